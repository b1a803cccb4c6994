"""The WebSocket benchmark's load generator: a process of its own (pinned to the core the
server does not use), started by loadtests/bench_ws.py, which reads its JSON result.

    python -m loadtests.ws_loadgen --url http://127.0.0.1:PORT --server-pid PID
        --users users.txt --warmup 100 --nats nats://... --prefix P --out result.json

`users.txt` holds `<user id> <access token>` lines; the first --warmup users warm the
server up (and one of them carries the ping probe), the others are the measured sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import uvloop

from fowergram.adapters.nats.connection import close_nats, connect_nats
from loadtests.sampling import Sampler, setup_profile_path
from loadtests.ws_broadcast import add_arguments, broadcast, plan_from_args
from loadtests.ws_churn import churn, close_and_audit
from loadtests.ws_delivery import Publisher, RunFigures, ladder, run_at
from loadtests.ws_sockets import (
    CpuWindow,
    GcLog,
    PingProbe,
    Target,
    open_many,
    rss_kib,
    server_quiet,
    until,
)
from loadtests.ws_watch import WatchClient
from loadtests.ws_wire import Stats

VERIFY_SAMPLE = 200


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def raise_open_files() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _verify(publisher: Publisher, stats: Stats, user_ids: list[int]) -> tuple[int, int]:
    """One message to each of a sample of users: how many sockets got theirs (a
    subscription that is not live yet would miss it: there is no replay without `after`)."""
    sample = random.Random(7).sample(user_ids, min(VERIFY_SAMPLE, len(user_ids)))
    before = stats.deliveries
    await publisher.to(sample)
    await until(lambda: stats.deliveries - before >= len(sample), 5)
    return stats.deliveries - before, len(sample)


async def _warm_up(target: Target, publisher: Publisher, users: list[tuple[int, str]]) -> None:
    """Sockets that subscribe, get one message each and leave: the server's lazy imports,
    caches and pools are made before the memory baseline is read."""
    stats = Stats(sample_every=1)
    opened = await open_many(target, stats, users, concurrency=50)
    await asyncio.sleep(0.5)
    await publisher.to(list(opened.sockets))
    await until(lambda: stats.deliveries >= len(opened.sockets), 5)
    for client in opened.sockets.values():
        client.close()
    log(f"  warm-up: {len(opened.sockets)} sockets, {stats.deliveries} deliveries")


async def run(args: argparse.Namespace, users: list[tuple[int, str]]) -> dict[str, Any]:
    url = urlsplit(args.url)
    target = Target(url.hostname or "127.0.0.1", url.port or 80)
    warmup, measured = users[: args.warmup], users[args.warmup :]
    scenarios = set(args.scenarios.split(","))
    result: dict[str, Any] = {"open_files": raise_open_files(), "connections": len(measured)}
    nc = await connect_nats(args.nats, name="bench-ws-publisher")
    publisher = Publisher(nc, args.prefix)
    stats = Stats(sample_every=args.sample_every)
    probe = PingProbe()
    gc_log = GcLog(args.gc_log)
    try:
        await probe.start(target, Stats(sample_every=1), warmup[0][1])
        await _warm_up(target, publisher, warmup[1:])
        await server_quiet(args.server_pid)
        rss_before = rss_kib(args.server_pid)
        objects_before = await gc_log.objects(args.server_pid)
        probe.restart()
        opening_at = time.time()
        log(f"  opening {len(measured)} sockets (server RSS {rss_before / 1024:.0f} MiB)")
        setup_sampler = None
        if args.profile_seconds > 0:
            setup_sampler = Sampler(
                args.server_pid, args.profile_seconds, setup_profile_path(args.profile_out)
            )
        setup_cpu = CpuWindow(args.server_pid)
        # WatchClient: the same socket, whose sampled deliveries may be post activity too.
        opened = await open_many(
            target, stats, measured, concurrency=args.concurrency, client_type=WatchClient
        )
        settle_s = await server_quiet(args.server_pid)
        # Through the server's quiet window too (under 15% of 0.25 s): all of its work.
        generator_cpu_s, server_cpu_s = setup_cpu.seconds()
        if setup_sampler is not None:
            outcome = setup_sampler.result()
            result["setup_profile_error"] = outcome if isinstance(outcome, str) else None
        rss_after = rss_kib(args.server_pid)
        collector = gc_log.window(opening_at, time.time())
        longest_ping_ms = max(probe.rtts, default=0.0) * 1000  # before counting stalls it
        objects_after = await gc_log.objects(args.server_pid)
        # The generator's own objects (10,000 sockets) are made: keep its collector off them.
        gc.freeze()
        count = len(opened.sockets)
        publisher.target(list(opened.sockets))
        received, sampled = await _verify(publisher, stats, list(opened.sockets))
        result["memory"] = {
            "opened": count,
            "failures": dict(opened.failures),
            "open_seconds": opened.seconds,
            "settle_seconds": settle_s,
            "cpu_seconds": [generator_cpu_s, server_cpu_s],
            "rss_before_kib": rss_before,
            "rss_after_kib": rss_after,
            "per_connection_bytes": (rss_after - rss_before) * 1024 / max(count, 1),
            "verified": [received, sampled],
            "longest_ping_ms": longest_ping_ms,
            "gc": collector,
            "objects": [
                objects_before.as_dict() if objects_before else None,
                objects_after.as_dict() if objects_after else None,
            ],
        }
        log(
            f"  {count} sockets in {opened.seconds:.1f} s (+{settle_s:.1f} s until the "
            f"server was quiet), RSS +{(rss_after - rss_before) / 1024:.0f} MiB; "
            f"live check {received}/{sampled}"
        )
        if "per-user" in scenarios and count:
            result["per_user"] = await _per_user(args, publisher, stats, probe, gc_log)
        if "broadcast" in scenarios and count:
            sockets = list(opened.sockets.values())
            plan = plan_from_args(args)
            result["broadcast"] = await broadcast(
                nc,
                args.prefix,
                plan,
                sockets,
                stats,
                probe,
                gc_log,
                server_pid=args.server_pid,
                log=log,
            )
        if "churn" in scenarios and count:
            result["churn"] = await churn(
                target,
                stats,
                probe,
                opened,
                dict(measured),
                gc_log,
                server_pid=args.server_pid,
                rounds=args.churn_rounds,
                fraction=args.churn_fraction,
                concurrency=args.concurrency,
                audit=args.audit,
                log=log,
            )
        if "close" in scenarios and count:
            result["close"] = await close_and_audit(
                opened, gc_log, server_pid=args.server_pid, fraction=args.churn_fraction, log=log
            )
        result["closes"] = dict(stats.closes)
        result["generator_peak_rss_kib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        for client in opened.sockets.values():
            client.close()
    finally:
        await probe.stop()
        await close_nats(nc)
    return result


async def _per_user(
    args: argparse.Namespace, publisher: Publisher, stats: Stats, probe: PingProbe, gc_log: GcLog
) -> dict[str, Any]:
    steps: list[RunFigures] = []
    rate = args.rate
    if rate <= 0:
        log("  per-user: finding the highest rate kept up")
        steps = await ladder(
            publisher,
            stats,
            probe,
            args.server_pid,
            gc_log,
            start_rate=args.start_rate,
            step_s=args.step_seconds,
            max_p50_ms=args.max_p50_ms,
            log=log,
        )
        kept = [step for step in steps if step.kept_up(args.max_p50_ms)]
        rate = kept[-1].rate if kept else steps[0].rate
    await server_quiet(args.server_pid)
    log(f"  per-user: {rate:,.0f}/s for {args.duration:g} s")
    sampler = None
    if args.profile_seconds > 0:
        sampler = Sampler(args.server_pid, args.profile_seconds, Path(args.profile_out))
    final = await run_at(
        publisher, stats, probe, args.server_pid, gc_log, rate=rate, seconds=args.duration
    )
    profile_error = None
    if sampler is not None:
        outcome = sampler.result()
        profile_error = outcome if isinstance(outcome, str) else None
    return {
        "steps": [step.as_dict() for step in steps],
        "final": final.as_dict(),
        "profile_error": profile_error,
    }


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--nats", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--scenarios", default="memory,per-user")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rate", type=float, default=0)
    parser.add_argument("--start-rate", type=float, default=500)
    parser.add_argument("--step-seconds", type=float, default=3)
    parser.add_argument("--max-p50-ms", type=float, default=50)
    parser.add_argument("--sample-every", type=int, default=10)
    parser.add_argument("--profile-seconds", type=int, default=0)
    parser.add_argument("--profile-out", default="/tmp/bench-ws-profile.raw")
    parser.add_argument("--churn-rounds", type=int, default=5)
    parser.add_argument("--churn-fraction", type=float, default=0.5)
    parser.add_argument("--audit", action="store_true", help="unfreeze and collect at the end")
    parser.add_argument("--gc-log", help="the server's BENCH_GC_LOG file (loadtests/gc_probe)")
    add_arguments(parser)  # broadcast: --post-id, --broadcast-rate, --broadcast-start-rate
    return parser.parse_args()


def main() -> None:
    args = _parse_args()
    pairs = [line.split() for line in Path(args.users).read_text().splitlines() if line.strip()]
    users = [(int(user_id), token) for user_id, token in pairs]
    result = uvloop.run(run(args, users))
    Path(args.out).write_bytes(orjson.dumps(result, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    main()
