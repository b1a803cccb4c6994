"""The WebSocket benchmark's printed figures (beside the issue's targets and the peers'),
the py-spy summary of the server, and the cleanup of the run's Redis keys and streams."""

from __future__ import annotations

import argparse
import contextlib
import re
from collections import Counter
from pathlib import Path
from typing import Any

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.nats.durable_consumer import dlq_stream_name
from fowergram.adapters.nats.event_stream import stream_name
from fowergram.adapters.redis.client import create_redis
from loadtests.sampling import parse_raw

# Metrics worth showing after a run: the hub's own, and the collector's if ever exported.
_METRIC = re.compile(
    r"^(fowergram_websocket_\w+|fowergram_channel_\w+|fowergram_gc\w*|python_gc\w*|"
    r"fowergram_event_loop\w*)(\{[^}]*\})? (\S+)$"
)
# Inclusive time of the hub's parts in the server's stacks: (label, frame substring).
PARTS = [
    ("socket read loop (SocketEndpoint._read: parse, init, subscribe)", "SocketEndpoint._read"),
    ("connection_init: authentication + hub.attach", "SocketEndpoint._init"),
    ("channel fan-out (Channels listener -> Connection.deliver)", "Channels._listen"),
    ("subscription execution (run_operation: Strawberry + graphql-core)", "run_operation"),
    ("socket writer (Connection._write -> uvicorn/websockets)", "Connection._write"),
    ("NATS client (nats-py reading and dispatching)", "nats/aio/"),
    ("presence (connected/disconnected)", "presence"),
]


def _kb(per_connection_bytes: float) -> str:
    return f"{per_connection_bytes / 1000:.1f} KB"


def print_report(
    args: argparse.Namespace, result: dict[str, Any], metrics: str, *, pinning: str
) -> None:
    memory = result["memory"]
    count = memory["opened"]
    print(f"\nWebSocket benchmark: one server process, {count} sockets (graphql-transport-ws)")
    print(f"pinning: {pinning}; open files allowed: {result['open_files']}")
    print("\nMemory and set-up (each socket: connection_init with a bearer token + one")
    print("`subscription { notifications { id updatedAt } }`)")
    failures = memory["failures"]
    print(f"  sockets opened           {count} of {result['connections']}"
          + (f"; failures: {failures}" if failures else ""))  # fmt: skip
    before, after = memory["rss_before_kib"] / 1024, memory["rss_after_kib"] / 1024
    print(
        f"  server RSS               {before:.0f} MiB before, {after:.0f} MiB after: "
        f"{_kb(memory['per_connection_bytes'])} per socket"
        "   [target <= 20 KB; peers: Node ~31 KB, Strawberry + broadcaster ~67 KB]"
    )
    objects_before, objects_after = memory["objects"]
    if objects_before is not None and objects_after is not None:
        print(
            f"  objects the server's GC tracks  {objects_before:,} before, {objects_after:,} "
            f"after: {(objects_after - objects_before) / max(count, 1):,.0f} per socket"
        )
    open_s, settle_s = memory["open_seconds"], memory["settle_seconds"]
    print(
        f"  set-up rate              {count / open_s:,.0f}/s to the last subscribe sent "
        f"({open_s:.1f} s; {args.concurrency} handshakes in flight), "
        f"{count / (open_s + settle_s):,.0f}/s until the server was quiet (+{settle_s:.1f} s)"
        "   [target >= 3,000/s; peers: Node ~900/s, Strawberry ~120/s]"
    )
    received, sampled = memory["verified"]
    print(f"  subscriptions live       {received} of {sampled} sampled sockets got an event "
          "published after set-up")  # fmt: skip
    print(f"  longest ping round trip  {memory['longest_ping_ms']:.0f} ms during set-up"
          + _gc_note(memory["gc"]))  # fmt: skip
    per_user = result.get("per_user")
    if per_user:
        _print_per_user(args, per_user)
    print("\nPauses")
    if per_user:
        final = per_user["final"]
        print(
            f"  final run: longest probe ping round trip {final['longest_ping_ms']:.0f} ms, "
            f"longest gap between two deliveries {final['longest_gap_ms']:.0f} ms, "
            f"slowest delivery {final['max_ms']:.0f} ms   [target: no pause over 100 ms]"
        )
    shown = [
        line
        for line in metrics.splitlines()
        if _METRIC.match(line) and "_created" not in line.split(" ", 1)[0]
    ]
    totals = result.get("gc_totals")
    if totals:
        print("  server's collector over the whole run (timed by loadtests/gc_probe):")
        for generation, figures in totals["generations"].items():
            print(
                f"    generation {generation}: {figures['count']} collections, "
                f"{figures['total_s'] * 1000:,.0f} ms in all, "
                f"longest {figures['max_s'] * 1000:.0f} ms"
            )
        print(f"    thresholds {totals['thresholds']}, objects frozen: {totals['frozen']}")
    else:
        print("  TODO: the server's GC is not measured (loadtests/gc_probe did not report);")
        print("        the ping probe and delivery gaps above include any collector pause")
    if result.get("closes"):
        print(f"  sockets closed by the server: {result['closes']}")
    print("\nServer metrics after the run")
    for line in shown:
        print(f"  {line}")


def _print_per_user(args: argparse.Namespace, per_user: dict[str, Any]) -> None:
    print(f"\nPer-user delivery (core NATS publishes to random users' subjects; 1 in "
          f"{args.sample_every} deliveries decoded for latency)")  # fmt: skip
    header = (
        f"  {'rate/s':>8} {'published':>9} {'delivered':>9} {'deliv/s':>8} {'p50 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7} {'gen CPU':>7} {'srv CPU':>7} {'gap ms':>6} "
        f"{'ping ms':>7} {'GC ms':>6} {'closed':>6}"
    )
    print(header)
    rows = [(step, "") for step in per_user["steps"]]
    rows.append((per_user["final"], f"  <- {per_user['final']['seconds']:.0f} s at this rate"))
    for index, (row, note) in enumerate(rows):
        if index == len(per_user["steps"]) and per_user["steps"]:
            print("  final run (the highest rate kept up):")
        print(
            f"  {row['rate']:>8,.0f} {row['published']:>9} {row['delivered']:>9} "
            f"{row['deliveries_per_s']:>8,.0f} {row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} "
            f"{row['max_ms']:>7.0f} {row['generator_cpu']:>6.0f}% {row['server_cpu']:>6.0f}% "
            f"{row['longest_gap_ms']:>6.0f} {row['longest_ping_ms']:>7.0f} "
            f"{_gc_cell(row):>6} {row['closed']:>6}"
            f"{note}"
        )
    print(
        "  gap = longest time between two deliveries; ping = the probe's longest round trip; "
        "GC = the server's longest collector pause (full collections and any over 20 ms)"
    )
    print(
        f"  (a step is kept up when >= 99.5% arrive within 2 s of its end and p50 <= "
        f"{args.max_p50_ms:g} ms)   [target >= 20,000/s at p99 <= 50 ms; peers at 5,000 "
        "sockets: Node ~9,000/s at p99 134 ms, Strawberry + broadcaster ~500/s at p99 20 ms]"
    )
    if per_user.get("profile_error"):
        print(f"  no profile: {per_user['profile_error']}")


def _gc_cell(row: dict[str, Any]) -> str:
    """The longest collector pause of a run ('-' when not probed)."""
    if row.get("gc_longest_ms") is None:
        return "-"
    return f"{row['gc_longest_ms']:.0f}"


def _gc_note(window: list[float] | None) -> str:
    if not window:
        return ""
    full, longest_ms = window
    return (
        f"; the server's collector: {full:.0f} full collections, longest pause {longest_ms:.0f} ms"
    )


def print_profile_summary(result: dict[str, Any], raw: Path, *, top: int = 15) -> None:
    if not raw.exists():
        print("\nno profile was recorded")
        return
    text = raw.read_text()
    profile = parse_raw(text, 1)
    if not profile.samples:
        print("\nthe profile holds no samples of the event-loop thread")
        return
    print(f"\nServer profile during the final per-user run (py-spy, {profile.samples} busy "
          "samples of the event-loop thread)")  # fmt: skip
    print("  own time, top frames")
    for frame, count in profile.frames[:top]:
        print(f"  {count / profile.samples * 100:>6.1f}%  {frame}")
    print("  own time by package")
    for package, count in profile.packages[:8]:
        print(f"  {count / profile.samples * 100:>6.1f}%  {package}")
    print("  inclusive time by part of the hub")
    for label, share in _inclusive(text).items():
        print(f"  {share / profile.samples * 100:>6.1f}%  {label}")


def _inclusive(text: str) -> dict[str, int]:
    shares: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack.split(";", 1)[0].endswith(": MainThread") or not count.isdigit():
            continue
        for label, marker in PARTS:
            if marker in stack:
                shares[label] += int(count)
    return {label: shares[label] for label, _ in PARTS}


async def cleanup_services(redis_url: str, nats_url: str, prefix: str) -> None:
    """Remove what the run left on shared services: its Redis keys and its streams."""
    redis = create_redis(redis_url)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 500):
            await redis.delete(*keys[start : start + 500])
    finally:
        await redis.aclose()
    nc = await connect_nats(nats_url, name="bench-ws-cleanup")
    try:
        jetstream = nc.jetstream()
        for name in (stream_name(prefix), dlq_stream_name(prefix)):
            with contextlib.suppress(Exception):  # absent: nothing to remove
                await jetstream.delete_stream(name)
    finally:
        await close_nats(nc)
