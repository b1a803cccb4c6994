"""py-spy sampling of the server worker: own time per frame and per package."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from loadtests.server import generator_command


def setup_profile_path(raw: Path | str) -> Path:
    """Where the set-up phase's py-spy stacks go, beside the per-user run's `raw`."""
    return Path(f"{raw}.setup")


def py_spy_path() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass(frozen=True)
class Profile:
    samples: int  # the event-loop thread's busy samples (py-spy leaves idle ones out)
    expected: int  # duration x rate: what a thread that never waits would give
    frames: list[tuple[str, int]]  # own samples per frame, most first
    packages: list[tuple[str, int]]
    phases: list[tuple[str, int]]
    other_threads: int  # samples of other threads (the to_thread pool: mostly parked)


class Sampler:
    """`py-spy record` on the server for `duration_s`, started now, read by `result()`."""

    def __init__(self, pid: int, duration_s: int, out: Path, *, rate: int = 100) -> None:
        spy = py_spy_path()
        assert spy is not None
        self.out, self.expected = out, duration_s * rate
        argv = [
            spy, "record", "--pid", str(pid), "--duration", str(duration_s),
            "--rate", str(rate), "--format", "raw", "--nolineno", "--threads", "--output", str(out),
        ]  # fmt: skip
        self._process = subprocess.Popen(
            generator_command(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def result(self) -> Profile | str:
        """The profile, or why there is none (e.g. ptrace not permitted)."""
        output, _ = self._process.communicate(timeout=120)
        if self._process.returncode != 0 or not self.out.exists():
            return output.strip().splitlines()[-1] if output.strip() else "py-spy failed"
        return parse_raw(self.out.read_text(), self.expected)


_LINE = re.compile(r"^(.*) (\d+)$")


def parse_raw(text: str, expected: int) -> Profile:
    """Own time of the event-loop thread. py-spy's idle detection misses threads parked in
    the default executor (they would show as busy `_worker` frames), so only the main
    thread counts; its samples stuck at `Runner.run` are time inside uvloop's C code."""
    frames: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    phases: Counter[str] = Counter()
    total = other = 0
    for line in text.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        stack, count = match.group(1), int(match.group(2))
        thread, _, _ = stack.partition(";")
        if not thread.endswith(": MainThread"):
            other += count
            continue
        *callers, leaf = stack.rsplit(";", 2)
        frame = _short(leaf)
        if leaf.endswith("(<string>)") and callers:
            # generated code (dataclass __hash__, lambdas): name who runs it
            frame = f"{frame} in {_short(callers[-1])}"
        for label, marker in PHASES:
            if marker in stack:
                phases[label] += count
        frames[frame] += count
        packages[_package(leaf)] += count
        total += count
    in_order = [(label, phases[label]) for label, _ in PHASES]
    return Profile(total, expected, frames.most_common(), packages.most_common(), in_order, other)


_FRAME = re.compile(r"^(?P<func>.*) \((?P<path>.*)\)$")

# Inclusive time of the request's phases: (label, a frame substring that marks it).
PHASES = [
    ("whole HTTP request (uvicorn + middleware + GraphQL)", "RequestResponseCycle.run_asgi"),
    ("bearer-token authentication", "authenticate (fowergram/http/auth_transport.py)"),
    ("GraphQL validation (CachedValidation.on_validate)", "CachedValidation.on_validate"),
    ("GraphQL parsing (CachedParse.on_parse)", "CachedParse.on_parse"),
    ("GraphQL execution (resolvers, graphql-core)", "Schema._execute_operation"),
    ("asyncpg (pool + queries)", "(asyncpg/"),
    ("JSON response (orjson + Response)", "GraphQLView.create_response"),
]


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match.group("path")
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match.group('func')} ({path})"


def _package(frame: str) -> str:
    """py-spy shortens paths to their import path: its first part names the package."""
    match = _FRAME.match(_short(frame))
    path = match.group("path") if match else frame
    return path.split("/", 1)[0].removesuffix(".py")


def print_profile(profile: Profile, *, scenario: str = "profile page", top: int = 15) -> None:
    busy = profile.samples / profile.expected * 100 if profile.expected else 0.0
    print(
        f"\n{scenario} under load, py-spy on the server's event-loop thread: "
        f"{profile.samples} busy samples of {profile.expected} (~{busy:.0f}% busy; "
        f"idle waits left out; `Runner.run` = inside uvloop's C code)"
    )
    print(f"top {top} frames by own time")
    print(f"{'own %':>7}  frame")
    for frame, count in profile.frames[:top]:
        print(f"{count / profile.samples * 100:>6.1f}%  {frame}")
    print("own time by package")
    for package, count in profile.packages[:10]:
        print(f"{count / profile.samples * 100:>6.1f}%  {package}")
    print("inclusive time by phase")
    for label, count in profile.phases:
        print(f"{count / profile.samples * 100:>6.1f}%  {label}")
    outside = profile.samples - profile.phases[0][1]
    print(
        f"{outside / profile.samples * 100:>6.1f}%  outside a request's own stack "
        "(DataLoader batches and other tasks, uvloop callbacks)"
    )
