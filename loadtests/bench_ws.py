"""WebSocket benchmark of the connection hub: one server process, real sockets, figures.

    python -m loadtests.bench_ws [--connections 10000] [--duration 10] [--rate 0]
                                 [--scenarios memory,per-user] [--profile-seconds 0]
                                 [--broadcast-rate 10]

1. A fresh database (on DATABASE_URL's server; REDIS_URL and NATS_URL with a key and
   subject prefix of the run's own; without DATABASE_URL, embedded services started for
   the run), migrated with `fowergram migrate up`; --connections users (+ --warmup)
   inserted with SQL, each with a session and access token from the auth service itself.
2. `fowergram serve --workers 1` pinned to CPU 0; the load generator
   (loadtests/ws_loadgen.py, a lean uvloop client) pinned to CPU 1, with the embedded
   services when they are ours. Both may open as many files as the hard limit allows.
3. memory: RSS of the server before and after --connections sockets each authenticated
   (`connection_init` with a bearer token) and holding `notifications { id updatedAt }`;
   the rate they were set up at; a published event reaching a sample of them proves the
   subscriptions live.
4. per-user: notifications published with core NATS on random users' subjects
   (`<prefix>.user.<id>`), the publish time in `updatedAt`. With --rate 0 the rate grows
   by half every --step-seconds until deliveries are lost or queue up (median over
   --max-p50-ms), then the highest rate kept up runs for --duration; otherwise --rate
   does. Every frame is counted, one in --sample-every decoded for latency.
5. broadcast (optional): one public post, created with SQL, watched by every socket
   (`subscription W($id: ID!) { postActivity(postId: $id) { postId likeCount
   commentCount } }`: one shared execution on the server, each socket authorised on
   joining); post.activity events published with core NATS on `<prefix>.post.<id>`
   at --broadcast-rate events/s, the publish time in likeCount. Deliveries/s = events
   x watchers when all arrive. With --broadcast-rate 0 the rate grows by half every
   --step-seconds from --broadcast-start-rate until one is not kept up (every watcher
   with every event within 0.5 s of the last publish), then the highest kept up runs
   for --duration. The server's CPU is shown with its kernel part (socket writes).
6. churn (optional): --churn-fraction of the sockets closed and opened again, for
   --churn-rounds rounds, the server's RSS, tracked and frozen objects after each; with
   --audit, the server is unfrozen and collected at the end: the cyclic garbage freezing
   had kept (a leak) is counted by type.
   close (optional): --churn-fraction of the sockets closed, then the same audit: with
   --server-env GC_THRESHOLDS=0,10,10 GC_FREEZE_AFTER_START=false (no collection before)
   and --object-types, the cyclic garbage a closed socket leaves, by type.
7. Pauses: a probe socket pings every 20 ms (the server answers in its read loop; the
   longest round trip is its longest stall seen from outside), and the longest gap
   between two deliveries while publishing.

--server-env NAME=VALUE sets the server's settings (e.g. the collector policy's
GC_FREEZE_AFTER_START, GC_THRESHOLDS) for A/B runs; --object-types counts the server's
tracked objects by type before and after set-up (the top contributors per socket).

Prints figures; asserts nothing. The generator's CPU is printed beside each figure: near
100% means it, not the server, was the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import psutil

from fowergram.config import Settings
from fowergram.embedded.process import free_port
from fowergram.embedded.stack import EmbeddedStack
from loadtests.machine_speed import core_speeds, speed_line
from loadtests.sampling import setup_profile_path
from loadtests.server import SERVER_CPU, can_pin, fresh_database, other_cpus, stop, wait_ready
from loadtests.ws_broadcast import add_rate_arguments, profile_path
from loadtests.ws_report import cleanup_services, print_profile_summary, print_report
from loadtests.ws_users import make_users
from loadtests.ws_watch import create_watched_post

ACCESS_TTL_S = 4 * 3600  # tokens minted before the run must outlive it
GC_PROBE = Path(__file__).with_name("gc_probe")


@dataclass(frozen=True)
class Services:
    database_url: str  # the server's admin URL: the run's database is created on it
    redis_url: str
    nats_url: str
    embedded: bool


@contextlib.contextmanager
def _services(data_dir: Path) -> Iterator[Services]:
    names = ("DATABASE_URL", "REDIS_URL", "NATS_URL")
    if all(os.environ.get(name) for name in names):
        database, redis, nats = (os.environ[name] for name in names)
        yield Services(database, redis, nats, embedded=False)
        return
    print("DATABASE_URL, REDIS_URL and NATS_URL are not all set: starting embedded ones")
    stack = EmbeddedStack(data_dir, free_port(), free_port(), free_port(), durable=False)
    with stack as urls:
        _pin_services()
        yield Services(urls["database_url"], urls["redis_url"], urls["nats_url"], embedded=True)


def _pin_services() -> None:
    """The embedded PostgreSQL, Redis and NATS (this process's children) off the server's
    core: NATS routing the publishes would otherwise take turns with the server, and
    show as pauses of the server's own."""
    if not can_pin():
        return
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            child.cpu_affinity(sorted(other_cpus()))


def _pinned(argv: list[str], cpus: set[int]) -> list[str]:
    if can_pin() and (taskset := shutil.which("taskset")):
        return [taskset, "-c", ",".join(map(str, sorted(cpus))), *argv]
    return argv


def _with_open_files(argv: list[str]) -> list[str]:
    """`argv` allowed the hard limit of open files (10,000 sockets need 10,000)."""
    prlimit = shutil.which("prlimit")
    if prlimit is None:
        return argv
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    limit = "unlimited" if hard == resource.RLIM_INFINITY else str(hard)
    return [prlimit, f"--nofile={limit}:{limit}", *argv]


@contextlib.contextmanager
def _server(env: dict[str, str], port: int, log_path: Path) -> Iterator[int]:
    argv = [sys.executable, "-m", "fowergram.cli", "serve", "--workers", "1", "--port", str(port)]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            _pinned(_with_open_files(argv), {SERVER_CPU}),
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/health/ready", process, log_path)
            yield process.pid  # taskset and prlimit exec: this is the server itself
        finally:
            stop(process)


def _metrics(port: int) -> str:
    with contextlib.suppress(httpx.HTTPError):
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return ""


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=10, help="seconds of the final run")
    parser.add_argument("--rate", type=float, default=0, help="publishes/s; 0: highest kept up")
    parser.add_argument(
        "--scenarios",
        default="memory,per-user",
        help="memory,per-user,broadcast,churn,close (memory always)",
    )
    add_rate_arguments(parser)  # --broadcast-rate, --broadcast-start-rate
    parser.add_argument("--churn-rounds", type=int, default=5, help="churn: rounds")
    parser.add_argument(
        "--churn-fraction", type=float, default=0.5, help="churn: share of the sockets each round"
    )
    parser.add_argument(
        "--audit",
        action="store_true",
        help="churn: at the end, unfreeze the server and collect (what freezing kept)",
    )
    parser.add_argument(
        "--object-types",
        action="store_true",
        help="count the server's tracked objects by type (per socket, top contributors)",
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the run's raw figures (result.json, gc.json) here"
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server (e.g. GC_THRESHOLDS=700,10,10); repeatable",
    )
    parser.add_argument("--warmup", type=int, default=100, help="sockets before the baseline")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument("--start-rate", type=float, default=1000, help="first step (rate 0)")
    parser.add_argument("--step-seconds", type=float, default=3)
    parser.add_argument("--max-p50-ms", type=float, default=50, help="a step kept up if under")
    parser.add_argument("--sample-every", type=int, default=10, help="decode 1 in N deliveries")
    parser.add_argument("--profile-seconds", type=int, default=0, help="py-spy the final run")
    parser.add_argument("--profile-out", type=Path, help="keep py-spy's raw stacks here")
    return parser.parse_args()


def _exit_on_term(_signum: int, _frame: object) -> None:
    # SIGTERM (a timeout, Ctrl-C from a supervisor) unwinds like Ctrl-C does: the run's
    # database, Redis keys and streams are removed and the server stopped.
    sys.exit(143)


def main() -> None:
    args = _parse_args()
    signal.signal(signal.SIGTERM, _exit_on_term)
    speed = core_speeds()  # before anything else runs
    print(speed_line(SERVER_CPU, speed), flush=True)
    started = time.monotonic()
    run_id = secrets.token_hex(4)
    prefix = f"benchws{run_id}"
    with tempfile.TemporaryDirectory(prefix="bench-ws-") as tmp, _services(Path(tmp)) as svc:
        work = Path(tmp)
        with fresh_database(svc.database_url) as database_url:
            env = dict(os.environ) | {
                "DATABASE_URL": database_url,
                "REDIS_URL": svc.redis_url,
                "NATS_URL": svc.nats_url,
                "REDIS_KEY_PREFIX": f"{prefix}:",
                "NATS_SUBJECT_PREFIX": prefix,
                "ACCESS_TOKEN_TTL_S": str(ACCESS_TTL_S),
                "DATA_DIR": str(work / "data"),
                "LOG_LEVEL": "WARNING",
                "ENVIRONMENT": "development",
                # loadtests/gc_probe/sitecustomize.py times the server's collections.
                "PYTHONPATH": os.pathsep.join(
                    [str(GC_PROBE), *filter(None, [os.environ.get("PYTHONPATH")])]
                ),
                "BENCH_GC_LOG": str(work / "gc.json"),
                "BENCH_GC_TYPES": "1" if args.object_types else "0",
            }
            env |= _server_env(args.server_env)  # A/B runs of the server's own settings
            subprocess.run(
                [sys.executable, "-m", "fowergram.cli", "migrate", "up"],
                env={k: v for k, v in env.items() if k != "BENCH_GC_LOG"},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            settings = Settings(
                database_url=database_url,
                redis_url=svc.redis_url,
                nats_url=svc.nats_url,
                redis_key_prefix=f"{prefix}:",
                nats_subject_prefix=prefix,
                access_token_ttl_s=ACCESS_TTL_S,
            )
            print(f"creating {args.connections + args.warmup} users with sessions", flush=True)
            users = asyncio.run(make_users(settings, args.connections + args.warmup))
            users_file = work / "users.txt"
            users_file.write_text("".join(f"{u.user_id} {u.token}\n" for u in users))
            # broadcast: the post every socket watches (its author is public, so visible).
            post_id = asyncio.run(create_watched_post(database_url, users[0].user_id))
            port = free_port()
            try:
                with _server(env, port, work / "server.log") as pid:
                    print(f"server ready on port {port} (pid {pid})", flush=True)
                    serving_from = time.time()
                    result = _generate(args, port, pid, users_file, svc, prefix, work, post_id)
                    metrics = _metrics(port)
                    result["gc_totals"] = _gc_totals(work / "gc.json", serving_from)
                    if (churned := result.get("churn")) and churned.get("audit"):
                        # The audit's own collection is not the policy's doing.
                        result["gc_totals"] = churned["gc_totals"]
            finally:
                asyncio.run(cleanup_services(svc.redis_url, svc.nats_url, prefix))
            if args.keep is not None:
                _keep(args.keep, result, metrics, work / "gc.json")
        print(speed_line(SERVER_CPU, speed, core_speeds()))
        print_report(args, result, metrics, pinning=_pinning_line(svc.embedded))
        if args.profile_seconds > 0:
            raw = args.profile_out or work / "profile.raw"
            setup = setup_profile_path(raw)
            print_profile_summary(result, setup, scenario="set-up (the sockets opening)")
            print_profile_summary(result, raw)
            if result.get("broadcast"):
                print_profile_summary(result, profile_path(raw), scenario="the final broadcast run")
    print(f"\nwhole run {time.monotonic() - started:.0f} s")


def _generate(
    args: argparse.Namespace,
    port: int,
    pid: int,
    users_file: Path,
    svc: Services,
    prefix: str,
    work: Path,
    post_id: int,
) -> dict[str, Any]:
    out = work / "result.json"
    profile_out = args.profile_out or work / "profile.raw"
    argv = [
        sys.executable, "-m", "loadtests.ws_loadgen",
        "--url", f"http://127.0.0.1:{port}", "--server-pid", str(pid),
        "--users", str(users_file), "--warmup", str(args.warmup),
        "--nats", svc.nats_url, "--prefix", prefix, "--out", str(out),
        "--scenarios", args.scenarios, "--concurrency", str(args.concurrency),
        "--duration", str(args.duration), "--rate", str(args.rate),
        "--start-rate", str(args.start_rate), "--step-seconds", str(args.step_seconds),
        "--max-p50-ms", str(args.max_p50_ms), "--sample-every", str(args.sample_every),
        "--profile-seconds", str(args.profile_seconds), "--profile-out", str(profile_out),
        "--gc-log", str(work / "gc.json"),
        "--churn-rounds", str(args.churn_rounds), "--churn-fraction", str(args.churn_fraction),
        *(["--audit"] if args.audit else []),
        "--post-id", str(post_id), "--broadcast-rate", str(args.broadcast_rate),
        "--broadcast-start-rate", str(args.broadcast_start_rate),
    ]  # fmt: skip
    generator = subprocess.run(_pinned(_with_open_files(argv), other_cpus()), check=False)
    if generator.returncode != 0 or not out.exists():
        raise SystemExit(f"the load generator failed (status {generator.returncode})")
    result: dict[str, Any] = orjson.loads(out.read_bytes())
    return result


def _keep(folder: Path, result: dict[str, Any], metrics: str, gc_log: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))
    (folder / "metrics.txt").write_text(metrics)
    if gc_log.exists():
        shutil.copy(gc_log, folder / "gc.json")


def _server_env(pairs: list[str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"--server-env wants NAME=VALUE, got {pair!r}")
        env[name] = value
    return env


def _gc_totals(path: Path, serving_from: float) -> dict[str, Any] | None:
    """The probe's totals, and the longest collection since the server answered (those
    before, at start-up, paused no client)."""
    if not path.exists():
        return None
    state: dict[str, Any] = orjson.loads(path.read_bytes())
    totals = {key: state[key] for key in ("generations", "thresholds", "frozen")}
    # [wall time at its end, generation, seconds, collected]: every full collection and
    # every one of 20 ms or more
    serving = [entry for entry in state["notable"] if entry[0] >= serving_from]
    longest = max(serving, key=lambda entry: entry[2], default=None)
    totals["longest_serving"] = (
        None if longest is None else {"generation": longest[1], "seconds": longest[2]}
    )
    return totals


def _pinning_line(embedded: bool) -> str:
    if not can_pin():
        return "not pinned (fewer than 2 CPUs available)"
    cpus = ",".join(map(str, sorted(other_cpus())))
    services = " and the embedded services" if embedded else ""
    return f"server on CPU {SERVER_CPU}, load generator (and publisher){services} on CPU {cpus}"


if __name__ == "__main__":
    main()
