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
from loadtests.ws_broadcast_report import print_broadcast

# Metrics worth showing after a run: the hub's own, and the collector's if ever exported.
_METRIC = re.compile(
    r"^(fowergram_websocket_\w+|fowergram_channel_\w+|fowergram_gc\w*|python_gc\w*|"
    r"fowergram_event_loop\w*)(\{[^}]*\})? (\S+)$"
)
# Inclusive time of the hub's parts in the server's stacks: (label, frame substring).
PARTS = [
    (
        "socket reads (HubProtocol.data_received: frames, handshakes, messages)",
        "HubProtocol.data_received",
    ),
    ("connection_init: authentication + hub.attach", "SocketEndpoint._init"),
    ("channel fan-out (Channels listener -> Connection.deliver)", "Channels._listen"),
    ("pushed subscriptions (projection and frame per event)", "PushedOperation._on_message"),
    ("executed subscriptions (run_operation: Strawberry + graphql-core)", "run_operation"),
    ("shared subscription fan-out (Multiplexer._fan_out: a frame per watcher)", "_fan_out"),
    ("frame writes (framing + transport write, incl. the send syscall)", "HubProtocol.write_text"),
    ("NATS client (nats-py reading and dispatching)", "nats/aio/"),
    ("presence (connected/disconnected)", "presence"),
    ("subscribe: a pushed operation's start (session check)", "SocketEndpoint._push"),
    ("access-token verification (JwtAccessTokens: joserfc, RS256)", "JwtAccessTokens.verify"),
    ("Redis client (redis-py)", "redis/"),
]


def _name_parts(line: str) -> set[str]:
    name = line.split(" ", 1)[0].split("{", 1)[0]
    return {suffix for suffix in ("_created", "_bucket") if name.endswith(suffix)}


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
            f"  objects the server's GC tracks  {_objects(objects_before)} before, "
            f"{_objects(objects_after)} after: {_per_socket(objects_before, objects_after, count)}"
            " per socket"
        )
    open_s, settle_s = memory["open_seconds"], memory["settle_seconds"]
    print(
        f"  set-up rate              {count / open_s:,.0f}/s to the last subscribe sent "
        f"({open_s:.1f} s; {args.concurrency} handshakes in flight), "
        f"{count / (open_s + settle_s):,.0f}/s until the server was quiet (+{settle_s:.1f} s)"
        "   [target >= 3,000/s; peers: Node ~900/s, Strawberry ~120/s]"
    )
    if cpu := memory.get("cpu_seconds"):
        generator_s, server_s = cpu
        print(
            f"  set-up CPU               server {server_s / max(count, 1) * 1e6:,.0f} µs per "
            f"socket ({server_s / open_s * 100:.0f}% of its core while opening), "
            f"generator {generator_s / open_s * 100:.0f}%"
        )
    received, sampled = memory["verified"]
    print(f"  subscriptions live       {received} of {sampled} sampled sockets got an event "
          "published after set-up")  # fmt: skip
    print(f"  longest ping round trip  {memory['longest_ping_ms']:.0f} ms during set-up"
          + _gc_note(memory["gc"]))  # fmt: skip
    if objects_before and objects_after and objects_after["types"]:
        print_object_types(objects_before, objects_after, count)
    per_user = result.get("per_user")
    if per_user:
        _print_per_user(args, per_user)
    if result.get("broadcast"):
        print_broadcast(result["broadcast"], sample_every=args.sample_every)
    if result.get("churn"):
        print_churn(result["churn"])
    if result.get("close"):
        print_close(result["close"])
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
        if _METRIC.match(line) and not {"_created", "_bucket"} & _name_parts(line)
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
        longest = totals.get("longest_serving")
        if longest is not None:
            print(
                f"    longest while serving (from the first answer on; the whole run includes"
                f" start-up): {longest['seconds'] * 1000:.0f} ms, generation "
                f"{longest['generation']}   [target: no pause over 100 ms]"
            )
    else:
        print("  loadtests/gc_probe did not report: see fowergram_gc_pause_seconds below; the")
        print("  ping probe and delivery gaps above include any collector pause")
    if result.get("closes"):
        print(f"  sockets closed by the server: {result['closes']}")
    print("\nServer metrics after the run")
    for line in shown:
        print(f"  {line}")


def _objects(count: dict[str, Any]) -> str:
    frozen = f" (+{count['frozen']:,} frozen)" if count["frozen"] else ""
    return f"{count['tracked']:,}{frozen}"


def _per_socket(before: dict[str, Any], after: dict[str, Any], sockets: int) -> str:
    grown = after["tracked"] + after["frozen"] - before["tracked"] - before["frozen"]
    return f"{grown / max(sockets, 1):,.0f}"


def print_object_types(
    before: dict[str, Any], after: dict[str, Any], sockets: int, *, top: int = 30
) -> None:
    """The types whose tracked objects grew most with the sockets (frozen ones unseen)."""
    grown = {
        name: (after["types"].get(name, 0) - before["types"].get(name, 0)) / max(sockets, 1)
        for name in after["types"]
    }
    ranked = sorted(grown.items(), key=lambda item: -item[1])[:top]
    total = sum(value for value in grown.values() if value > 0)
    print(f"  tracked objects per socket by type (top {top} of {total:,.0f} counted):")
    for name, per in ranked:
        if per >= 0.05:
            print(f"    {per:>7.2f}  {name}")


def print_churn(churn: dict[str, Any]) -> None:
    start = churn["objects_start"]
    print(
        f"\nChurn ({churn['fraction']:.0%} of the sockets closed and opened again per round; "
        f"{churn['open']} open at the end)"
    )
    print(
        f"  start: RSS {churn['rss_start_kib'] / 1024:.0f} MiB"
        + (f", objects {_objects(start)}" if start else "")
    )
    print(
        f"  {'round':>5} {'closed':>7} {'opened':>7} {'open/s':>7} {'RSS MiB':>8} "
        f"{'tracked':>10} {'frozen':>10} {'full GCs':>8} {'GC ms':>6} {'ping ms':>7}"
    )
    for row in churn["rounds"]:
        objects = row["objects"] or {"tracked": 0, "frozen": 0}
        print(
            f"  {row['round']:>5} {row['closed']:>7} {row['reopened']:>7} "
            f"{row['reopened'] / max(row['open_seconds'], 1e-9):>7,.0f} "
            f"{row['rss_kib'] / 1024:>8.0f} {objects['tracked']:>10,} {objects['frozen']:>10,} "
            f"{row['gc_full'] if row['gc_full'] is not None else '-':>8} "
            f"{row['gc_longest_ms'] if row['gc_longest_ms'] is not None else 0:>6.0f} "
            f"{row['longest_ping_ms']:>7.0f}"
        )
    audit = churn.get("audit")
    if audit:
        closed = sum(row["closed"] for row in churn["rounds"])
        print(
            f"  audit (unfreeze + full collection at the end): {audit['frozen']:,} frozen, "
            f"{audit['garbage']:,} of them cyclic garbage ({audit['garbage'] / max(closed, 1):.1f}"
            f" per socket closed in the run, thaws aside), {audit['unfrozen_garbage']:,} "
            "garbage outside the frozen "
            f"ones; {audit['seconds'] * 1000:.0f} ms; RSS after "
            f"{churn['rss_after_audit_kib'] / 1024:.0f} MiB"
        )
        for name, found in list(audit["types"].items())[:15]:
            print(f"    {found / max(closed, 1):>7.2f} per socket closed  {name}")


def print_close(close: dict[str, Any], *, top: int = 30) -> None:
    closed = max(close["closed"], 1)
    audit = close["audit"] or {}
    freed_kib = close["rss_after_kib"] - close["rss_after_audit_kib"]
    print(f"\nClosed {close['closed']} sockets, then one full collection:")
    print(
        f"  cyclic garbage left: {audit.get('unfrozen_garbage', 0) / closed:,.1f} objects per "
        f"closed socket (+{audit.get('garbage', 0) / closed:,.1f} among frozen ones); RSS "
        f"{-freed_kib * 1024 / closed / 1000:+,.1f} KB per socket after it (pymalloc keeps "
        "most freed memory)"
    )
    for name, found in list(audit.get("unfrozen_types", {}).items())[:top]:
        print(f"    {found / closed:>7.2f}  {name}")


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


def print_profile_summary(
    result: dict[str, Any], raw: Path, *, top: int = 15, scenario: str = "the final per-user run"
) -> None:
    if not raw.exists():
        print("\nno profile was recorded")
        return
    text = raw.read_text()
    profile = parse_raw(text, 1)
    if not profile.samples:
        print("\nthe profile holds no samples of the event-loop thread")
        return
    print(f"\nServer profile during {scenario} (py-spy, {profile.samples} busy "
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
