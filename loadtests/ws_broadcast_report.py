"""The broadcast scenario's printed figures (loadtests/ws_broadcast.py), beside the
issue's target and the peers'."""

from __future__ import annotations

from typing import Any

from loadtests.ws_broadcast import CATCH_UP_S

TARGET = (
    "[target >= 100,000 deliveries/s at p99 <= 100 ms with 10,000 watchers; peers: "
    "Node ~10,000/s at p99 0.5-1 s, Strawberry + broadcaster ~2,250/s]"
)


# What the hub does for the watchers; another server (the floor) says what it does instead.
HUB_SERVING = "one shared execution"
HUB_JOINING = "each authorised by the server as its viewer"


def print_broadcast(
    broadcast: dict[str, Any],
    *,
    sample_every: int,
    serving: str = HUB_SERVING,
    joining: str = HUB_JOINING,
) -> None:
    joined = broadcast["joined"]
    print(
        f"\nBroadcast (every socket also subscribed to `postActivity(postId: "
        f"{broadcast['post_id']})`, {serving}; post.activity events published on "
        f"the post's core NATS subject, the publish time in likeCount; 1 in {sample_every} "
        "deliveries decoded for latency)"
    )
    proofs = joined.get("proofs", 1)
    print(
        f"  watchers live            {joined['live']} of {joined['sockets']} sockets got the "
        f"{'first event' if proofs == 1 else f'event published after {proofs} quiet spells'}"
        f"; joining took {joined['join_seconds']:.1f} s "
        f"({joined['sockets'] / max(joined['join_seconds'], 1e-9):,.0f} joins/s, {joining})"
    )
    if "final" not in broadcast:
        print("  no watcher is live: nothing was published")
        return
    print(
        f"  {'events/s':>8} {'watchers':>8} {'events':>6} {'expected':>9} {'delivered':>9} "
        f"{'deliv/s':>8} {'catch-up':>8} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} "
        f"{'gen CPU':>7} {'core':>5} {'srv CPU':>7} {'kernel':>6} {'gap ms':>6} {'ping ms':>7} "
        f"{'GC ms':>6} {'closed':>6}"
    )
    steps = broadcast["steps"]
    for row in steps:
        print(_row(row))
    if steps:
        print("  final run (the highest event rate kept up):")
    final = broadcast["final"]
    print(_row(final) + f"  <- {final['seconds']:.0f} s at this rate")
    print(
        "  deliv/s = frames that reached the sockets per second of publishing (events x "
        "watchers when all arrive); core = the generator's core busy with anything (the "
        "embedded services share it); catch-up = from the last publish until all had arrived; "
        "kernel = the part of the server's CPU spent in the kernel (its socket writes); gap = "
        "longest time between two deliveries; ping = the probe's longest round trip; GC = the "
        "server's longest collector pause"
    )
    print(
        f"  (a step is kept up when >= 99.5% of events x watchers arrive within "
        f"{CATCH_UP_S * 1000:.0f} ms of its last publish: the server ends it with no backlog)"
        f"   {TARGET}"
    )
    if broadcast.get("profile_error"):
        print(f"  no profile: {broadcast['profile_error']}")


def _row(row: dict[str, Any]) -> str:
    gc = "-" if row.get("gc_longest_ms") is None else f"{row['gc_longest_ms']:.0f}"
    catch_up = "never" if row["catch_up_ms"] is None else f"{row['catch_up_ms']:.0f} ms"
    return (
        f"  {row['rate']:>8,.2f} {row['watchers']:>8} {row['events']:>6} {row['expected']:>9} "
        f"{row['delivered']:>9} {row['deliveries_per_s']:>8,.0f} {catch_up:>8} "
        f"{row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['max_ms']:>7.0f} "
        f"{row['generator_cpu']:>6.0f}% {row['generator_cores_busy']:>4.0f}% "
        f"{row['server_cpu']:>6.0f}% "
        f"{row['server_kernel_cpu']:>5.0f}% {row['longest_gap_ms']:>6.0f} "
        f"{row['longest_ping_ms']:>7.0f} {gc:>6} {row['closed']:>6}"
    )
