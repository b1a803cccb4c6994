"""The churn scenario of the WebSocket benchmark: sockets closed and opened again, round
after round, with the server's memory, tracked and frozen objects and collector pauses
after each round.

A socket's objects that form reference cycles are freed only by a collection; frozen
ones (`gc.freeze()`) never are. A collector policy that freezes while sockets come and
go shows here as RSS and frozen objects growing round after round with the same number
of sockets open; the audit at the end (loadtests/gc_probe, SIGUSR1) unfreezes and
collects, and says how much cyclic garbage had been kept and of which types.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from loadtests.ws_sockets import GcLog, Opened, PingProbe, Target, open_many, rss_kib, server_quiet
from loadtests.ws_wire import Stats


async def churn(
    target: Target,
    stats: Stats,
    probe: PingProbe,
    opened: Opened,
    tokens: dict[int, str],
    gc_log: GcLog,
    *,
    server_pid: int,
    rounds: int,
    fraction: float,
    concurrency: int,
    audit: bool,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """`rounds` times: close `fraction` of the open sockets (a random pick), then open
    them again for the same users. `opened.sockets` stays current."""
    rng = random.Random(11)
    figures: list[dict[str, Any]] = []
    await server_quiet(server_pid)
    start = await gc_log.objects(server_pid)
    rss_start = rss_kib(server_pid)
    for number in range(1, rounds + 1):
        probe.restart()
        began = time.time()
        users = rng.sample(sorted(opened.sockets), int(len(opened.sockets) * fraction))
        for user_id in users:
            opened.sockets.pop(user_id).close()
        await server_quiet(server_pid)
        again = await open_many(
            target, stats, [(u, tokens[u]) for u in users], concurrency=concurrency
        )
        opened.sockets.update(again.sockets)
        opened.failures.update(again.failures)
        await server_quiet(server_pid)
        collector = gc_log.window(began, time.time())
        longest_ping = max(probe.rtts, default=0.0) * 1000
        count = await gc_log.objects(server_pid)
        rss = rss_kib(server_pid)
        row: dict[str, Any] = {
            "round": number,
            "closed": len(users),
            "reopened": len(again.sockets),
            "open_seconds": again.seconds,
            "rss_kib": rss,
            "objects": count.as_dict() if count else None,
            "gc_full": collector[0] if collector else None,
            "gc_longest_ms": collector[1] if collector else None,
            "longest_ping_ms": longest_ping,
        }
        figures.append(row)
        tracked = f"{count.tracked:,} tracked, {count.frozen:,} frozen" if count else "-"
        log(
            f"  churn round {number}: {len(users)} closed and {len(again.sockets)} opened "
            f"again in {again.seconds:.1f} s; RSS {rss / 1024:.0f} MiB, {tracked}"
        )
    result: dict[str, Any] = {
        "rounds": figures,
        "fraction": fraction,
        "open": len(opened.sockets),
        "rss_start_kib": rss_start,
        "objects_start": start.as_dict() if start else None,
        "gc_totals": gc_log.totals(),
    }
    if audit:
        # Last: it unfreezes the server and collects everything.
        result["audit"] = await gc_log.audit(server_pid)
        result["rss_after_audit_kib"] = rss_kib(server_pid)
    return result


async def close_and_audit(
    opened: Opened,
    gc_log: GcLog,
    *,
    server_pid: int,
    fraction: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Close `fraction` of the open sockets, then audit: with the server's automatic
    collection off (GC_THRESHOLDS=0,10,10) and nothing frozen, the cyclic garbage found
    is what those sockets left behind (their objects that only a collection frees)."""
    await server_quiet(server_pid)
    before = await gc_log.objects(server_pid)  # (--object-types: collects first)
    rss_before = rss_kib(server_pid)
    users = random.Random(13).sample(sorted(opened.sockets), int(len(opened.sockets) * fraction))
    for user_id in users:
        opened.sockets.pop(user_id).close()
    await server_quiet(server_pid)
    rss_after = rss_kib(server_pid)
    audit = await gc_log.audit(server_pid)
    log(f"  closed {len(users)} sockets; audit: {audit and audit['unfrozen_garbage']} garbage")
    return {
        "closed": len(users),
        "objects_before": before.as_dict() if before else None,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "rss_after_audit_kib": rss_kib(server_pid),
        "audit": audit,
    }
