"""Two checkouts of the server under the same HTTP load, in alternating short windows.

    python -m loadtests.bench_ab --a ../old-checkout --b . [--scenario like]
                                 [--windows 8] [--window 6] [--users 10000] [--posts 100000]
    python -m loadtests.bench_ab --a . --b . --b-env GC_THRESHOLDS=10000,2,10 ...

This machine's speed swings (the fixed workload of `machine_speed` has taken 52 and then
105 ms within a minute), so two whole `bench_http` runs minutes apart compare the
machine as much as the code. Here both servers run at once, each with its own embedded
services and the same seeded data, pinned to the same core, and wrk loads one at a time
in windows alternating A B B A ...: each window of one has a window of the other beside
it. After a window the harness waits until the loaded server is idle again (its
consumers caught up with the window's events), so one side's backlog never runs in the
other's window, and counts the server's CPU from the window's start to then: **CPU per
request, the work the request caused included**, which is what an optimisation changes
and what the swings disturb least. Prints every window, the medians of each side, B/A,
and in how many adjacent pairs B did better.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from loadtests.bench_http import sign_in_all
from loadtests.load import (
    SCENARIOS,
    run_wrk,
    scenario_lines,
    write_lines,
    write_tokens,
    wrk_path,
)
from loadtests.machine_speed import core_speeds, speed_line
from loadtests.pipeline import pipeline_counts
from loadtests.seed import SeedSizes, seed
from loadtests.server import SERVER_CPU, BenchServer, bench_server, pin

IDLE_CPU_SHARE = 0.03  # of one core over IDLE_PROBE_S: the server has settled
IDLE_PROBE_S = 0.5
SETTLE_LIMIT_S = 60.0


@dataclass(frozen=True)
class Side:
    name: str
    server: BenchServer
    requests_file: Path
    tokens_file: Path


@dataclass(frozen=True)
class Window:
    side: str
    rps: float
    p99_ms: float
    errors: int
    cpu_us_per_request: float  # the server's CPU from the window's start until it settled
    settle_s: float


def _cpu_s(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _settle(server: BenchServer) -> float:
    """Waits until the server is idle: under IDLE_CPU_SHARE of a core over a probe, with
    no event published or settled by a consumer meanwhile (a consumer waiting on a fetch
    is idle with a backlog). The seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_LIMIT_S:
        before, counts = _cpu_s(server.pid), pipeline_counts(server.url)
        time.sleep(IDLE_PROBE_S)
        idle = _cpu_s(server.pid) - before < IDLE_CPU_SHARE * IDLE_PROBE_S
        if idle and pipeline_counts(server.url) == counts:
            break
    return time.monotonic() - started


def _window(side: Side, args: argparse.Namespace) -> Window:
    cpu_before = _cpu_s(side.server.pid)
    result = run_wrk(
        side.server,
        side.requests_file,
        side.tokens_file,
        connections=args.concurrency,
        duration_s=args.window,
    )
    settle_s = _settle(side.server)
    cpu = _cpu_s(side.server.pid) - cpu_before
    return Window(
        side.name,
        result.rps,
        result.p99_ms,
        result.errors,
        cpu / max(result.requests, 1) * 1e6,
        settle_s,
    )


def _prepare(
    name: str, server: BenchServer, args: argparse.Namespace, work: Path
) -> tuple[Side, Path]:
    sizes = SeedSizes(
        users=args.users, posts=args.posts, viewers=args.concurrency, random_seed=args.seed
    )
    data = seed(server.database_url, sizes)
    tokens = asyncio.run(sign_in_all(server.url, data.viewers))
    tokens_file = work / f"{name}-tokens.txt"
    write_tokens(tokens_file, tokens)
    files = []
    for phase in ("warmup", "measure"):
        rng = random.Random(args.seed)  # both sides: the same requests in the same order
        path = work / f"{name}-{phase}.tsv"
        write_lines(path, scenario_lines(args.scenario, data, len(tokens), phase=phase, rng=rng))
        files.append(path)
    print(f"{name}: {server.url} (pid {server.pid}) seeded in {data.seconds:.0f} s", flush=True)
    return Side(name, server, files[1], tokens_file), files[0]


def _report(windows: list[Window]) -> None:
    def median(side: str, value: str) -> float:
        values: list[float] = [getattr(w, value) for w in windows if w.side == side]
        return statistics.median(values)

    print("\nside   req/s  p99 ms  errors  server CPU us/request (incl. settling)  settle s")
    for w in windows:
        print(
            f"{w.side:>4} {w.rps:7.0f} {w.p99_ms:7.1f} {w.errors:7d} "
            f"{w.cpu_us_per_request:17.0f} {w.settle_s:27.1f}"
        )
    # Windows run A B B A A B ...: each adjacent pair, as (A's, B's).
    pairs = [
        (x, y) if x.side == "A" else (y, x)
        for x, y in zip(windows[::2], windows[1::2], strict=True)
    ]
    better_rps = sum(b.rps > a.rps for a, b in pairs)
    better_cpu = sum(b.cpu_us_per_request < a.cpu_us_per_request for a, b in pairs)
    print("\nmedians          A        B      B/A")
    for label, value in (("req/s", "rps"), ("p99 ms", "p99_ms"), ("us/req", "cpu_us_per_request")):
        a, b = median("A", value), median("B", value)
        print(f"{label:<10} {a:8.1f} {b:8.1f} {b / a:8.3f}")
    print(
        f"B ahead in {better_rps} of {len(pairs)} adjacent pairs on req/s, "
        f"{better_cpu} of {len(pairs)} on CPU per request"
    )


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", type=Path, required=True, help="checkout A (e.g. the base)")
    parser.add_argument("--b", type=Path, required=True, help="checkout B (e.g. the change)")
    parser.add_argument(
        "--a-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of A's server (repeatable): A and B may be one checkout",
    )
    parser.add_argument("--b-env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--scenario", default="like", choices=[s.key for s in SCENARIOS])
    parser.add_argument("--windows", type=int, default=8, help="windows per side")
    parser.add_argument("--window", type=float, default=6.0, help="seconds per window")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds, each side, once")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args()


def main() -> None:
    args = _parse_args()
    if wrk_path() is None:
        raise SystemExit("wrk is not installed: `apt-get install -y wrk` (the load generator)")
    for source in (args.a, args.b):
        if not (source / "fowergram" / "app.py").is_file():
            raise SystemExit(f"{source} is not a checkout of Fowergram (no fowergram/app.py)")
    for setting in (*args.a_env, *args.b_env):
        if "=" not in setting:
            raise SystemExit(f"not NAME=VALUE: {setting!r}")
    before = core_speeds()
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ab-")))
        sides: dict[str, Side] = {}
        for name, source, settings in (("A", args.a, args.a_env), ("B", args.b, args.b_env)):
            extra_env = dict(setting.split("=", 1) for setting in settings)
            server = stack.enter_context(bench_server(source=source.resolve(), extra_env=extra_env))
            side, warmup_file = _prepare(name, server, args, work)
            sides[name] = side
            pin(server)
            run_wrk(
                server,
                warmup_file,
                side.tokens_file,
                connections=args.concurrency,
                duration_s=args.warmup,
            )
            _settle(server)
        windows: list[Window] = []
        for index in range(args.windows):
            order = "AB" if index % 2 == 0 else "BA"
            for name in order:
                window = _window(sides[name], args)
                windows.append(window)
                print(
                    f"  window {len(windows):2d} {name}: {window.rps:.0f} req/s, "
                    f"{window.cpu_us_per_request:.0f} us/request",
                    flush=True,
                )
        print(speed_line(SERVER_CPU, before, core_speeds()))
        print(f"scenario {args.scenario}: {args.windows} windows of {args.window:g} s a side")
        for name, settings in (("A", args.a_env), ("B", args.b_env)):
            if settings:
                print(f"{name}'s settings: {' '.join(settings)}")
        _report(windows)


if __name__ == "__main__":
    main()
