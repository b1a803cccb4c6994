"""Another server set up as `bench_ws` sets up our hub: the same client, the same cores, the
same measure, so that the two compare on the machine's speed of the day.

    npm ci --prefix loadtests/peer_node        # once: graphql-ws, ws, graphql-subscriptions
    python -m loadtests.bench_peer [--peer node|floor] [--connections 10000]
                                   [--concurrency 100]
    python -m loadtests.bench_peer --peer floor --scenarios memory,broadcast
                                   [--broadcast-rate 10] [--duration 15]

--peer node (the default): the issue's Node.js reference stack (loadtests/peer_node).
--peer floor: the least a Python server on our stack must do per socket
(loadtests/peer_floor.py: upgrade, frames, the token verified, no more) and, with
broadcast, per event (one decode, one encode, a write per socket).

This machine's cores change speed from one hour to the next (a fixed workload in 30 ms
one afternoon, in 80-115 ms another), and the issue's peer figures were taken once, on
2026-11-26. Run beside `bench_ws --scenarios memory` (alternating), this gives the peer's
figure of the same hour: our set-up as a multiple of the reference stack's.

1. An RSA-2048 key made for the run; --connections (+ --warmup) RS256 tokens signed with
   it, with our tokens' claims (iss, sub, sid, role, csrf, iat, exp).
2. The peer pinned to CPU 0 (all its threads); this process, the load generator, on the
   other core (loadtests/ws_sockets.open_many, as `bench_ws`).
3. --warmup sockets, then --connections sockets (`connection_init` with the bearer token,
   verified by jsonwebtoken or joserfc; then `subscription { notifications { id updatedAt } }`),
   --concurrency handshakes in flight; the set-up rate to the last subscribe sent, the
   server's CPU per socket through its quiet window, and its RSS per socket; the peer's own
   count of subscriptions proves every socket subscribed.
4. broadcast (--scenarios memory,broadcast; the floor only): the floor subscribed with
   nats-py to `<prefix>.post.>` (a prefix of the run's own) on NATS_URL's server, or on an
   embedded one started for the run on the load generator's core; every measured socket
   watches one post (`postActivity`, op id "w"), a probe socket pings every 20 ms, and
   post.activity events are published on `<prefix>.post.<id>` at --broadcast-rate events/s
   for --duration s, the publish time in likeCount: `bench_ws --scenarios
   memory,broadcast`'s scenario and table (loadtests/ws_broadcast.py), so deliveries/s,
   p50/p99, the server's CPU and its kernel part compare directly. With --broadcast-rate 0
   the rate grows by half every --step-seconds from --broadcast-start-rate until one is
   not kept up, then the highest kept up runs for --duration. What the hub costs above
   this row is its own code's; the floor's is uvloop's writes and nats-py's delivery.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import httpx
import psutil
import uvloop
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.embedded.process import free_port
from loadtests.machine_speed import core_speeds, speed_line
from loadtests.server import SERVER_CPU, can_pin, nats_for_run, other_cpus, stop, wait_ready
from loadtests.ws_broadcast import BroadcastPlan, add_rate_arguments, broadcast
from loadtests.ws_broadcast_report import print_broadcast
from loadtests.ws_loadgen import raise_open_files
from loadtests.ws_sockets import (
    CpuWindow,
    GcLog,
    PingProbe,
    Target,
    open_many,
    rss_kib,
    server_quiet,
)
from loadtests.ws_watch import WatchClient
from loadtests.ws_wire import Stats, WsClient

NODE_PEER = Path(__file__).with_name("peer_node")
PEERS = {
    "node": "Node.js peer (graphql-ws + ws + graphql-subscriptions, jsonwebtoken RS256)",
    "floor": "Python floor (loadtests/peer_floor.py: upgrade, frames, joserfc RS256, no more)",
}
ISSUER = "fowergram-bench-peer"
TOKEN_TTL_S = 3600
SCENARIOS = ("memory", "broadcast")
SAMPLE_EVERY = 10  # 1 in N deliveries decoded for latency (bench_ws's default)
WATCHED_POST = 1  # the floor has no posts: any id, the same on both sides


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peer", choices=sorted(PEERS), default="node")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=100, help="sockets before the baseline")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    parser.add_argument(
        "--scenarios", default="memory", help="memory,broadcast (memory always; broadcast: floor)"
    )
    add_rate_arguments(parser)  # --broadcast-rate, --broadcast-start-rate
    parser.add_argument("--step-seconds", type=float, default=3, help="broadcast: a step (rate 0)")
    parser.add_argument(
        "--duration", type=float, default=15, help="broadcast: seconds of the final run"
    )
    args = parser.parse_args()
    scenarios = set(args.scenarios.split(","))
    if unknown := scenarios - set(SCENARIOS):
        parser.error(f"--scenarios: unknown {','.join(sorted(unknown))} (known: memory,broadcast)")
    args.broadcast = "broadcast" in scenarios
    if args.broadcast and args.peer != "floor":
        parser.error("--scenarios broadcast: only --peer floor supports it")
    return args


def _tokens(key: rsa.RSAPrivateKey, count: int) -> list[tuple[int, str]]:
    """(user id, token) pairs shaped like ours: RS256, a kid, the same claims."""
    signer = RSAKey.import_key(key)
    header = {"alg": "RS256", "kid": "bench-peer", "typ": "JWT"}
    now = int(time.time())
    return [
        (
            user_id,
            jwt.encode(
                header,
                {
                    "iss": ISSUER,
                    "sub": str(user_id),
                    "sid": str(uuid.uuid4()),
                    "role": "user",
                    "csrf": "c" * 43,
                    "iat": now,
                    "exp": now + TOKEN_TTL_S,
                },
                signer,
                algorithms=["RS256"],
            ),
        )
        for user_id in range(1, count + 1)
    ]


@contextlib.contextmanager
def _peer(
    peer: str,
    public_key: Path,
    port: int,
    log_path: Path,
    *,
    pinned: bool,
    nats: tuple[str, str] | None,
) -> Iterator[int]:
    argv = [f"--port={port}", f"--public-key={public_key}", f"--issuer={ISSUER}"]
    if peer == "floor":
        argv = [sys.executable, "-m", "loadtests.peer_floor", *argv]
        if nats is not None:
            argv += [f"--nats-url={nats[0]}", f"--subject-prefix={nats[1]}"]
    else:
        node = shutil.which("node")
        if node is None or not (NODE_PEER / "node_modules").is_dir():
            raise SystemExit("needs node and `npm ci --prefix loadtests/peer_node` first")
        argv = [node, str(NODE_PEER / "server.mjs"), *argv]
    if pinned and (taskset := shutil.which("taskset")):
        argv = [taskset, "-c", str(SERVER_CPU), *argv]
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            stats = f"http://127.0.0.1:{port}/stats"
            wait_ready(stats, process, log_path, timeout_s=30, name="the peer")
            yield process.pid  # taskset execs: this is the peer itself
        finally:
            stop(process, sig=signal.SIGTERM, wait_s=30)


async def _measure(
    port: int,
    pid: int,
    users: list[tuple[int, str]],
    args: argparse.Namespace,
    nats: tuple[str, str] | None,
) -> None:
    target = Target("127.0.0.1", port)
    warmup, measured = users[: args.warmup], users[args.warmup :]
    await open_many(target, Stats(sample_every=1), warmup, concurrency=args.concurrency)
    await server_quiet(pid)
    rss_before = rss_kib(pid)
    cpu = CpuWindow(pid)
    stats = Stats(sample_every=SAMPLE_EVERY)
    # WatchClient: the same socket, whose sampled deliveries may be post activity too.
    opened = await open_many(
        target, stats, measured, concurrency=args.concurrency, client_type=WatchClient
    )
    settle_s = await server_quiet(pid)
    generator_cpu_s, server_cpu_s = cpu.seconds()
    rss_after = rss_kib(pid)
    gc.freeze()
    async with httpx.AsyncClient() as http:
        peer = (await http.get(f"http://127.0.0.1:{port}/stats")).json()
    count = len(opened.sockets)
    window_s = max(opened.seconds + settle_s, 1e-9)  # opening, then until the server was quiet
    busy = server_cpu_s / window_s * 100
    print(PEERS[args.peer])
    print(
        f"  server RSS               {rss_before / 1024:.0f} MiB before, {rss_after / 1024:.0f} "
        f"MiB after: {(rss_after - rss_before) * 1024 / max(count, 1) / 1000:.1f} KB per socket"
    )
    print(
        f"  set-up rate              {count / opened.seconds:,.0f}/s to the last subscribe sent "
        f"({opened.seconds:.1f} s; {args.concurrency} handshakes in flight), "
        f"{count / window_s:,.0f}/s until the server was quiet "
        f"(+{settle_s:.1f} s)"
    )
    print(
        f"  set-up CPU               server {server_cpu_s / max(count, 1) * 1e6:.0f} µs per socket "
        f"({busy:.0f}% of its core while opening), generator "
        f"{generator_cpu_s / window_s * 100:.0f}%"
    )
    print(
        f"  subscribed               {peer['subscriptions']} subscriptions on {peer['sockets']} "
        f"sockets (the peer's count; {count + len(warmup)} opened)"
        + (f"; failures {dict(opened.failures)}" if opened.failures else "")
    )
    try:
        if nats is not None and opened.sockets:
            await _broadcast(target, pid, warmup[0][1], opened.sockets.values(), stats, args, nats)
    finally:
        for socket in opened.sockets.values():
            socket.close()


async def _broadcast(
    target: Target,
    pid: int,
    probe_token: str,
    sockets: Iterable[WsClient],
    stats: Stats,
    args: argparse.Namespace,
    nats: tuple[str, str],
) -> None:
    """bench_ws's broadcast scenario (loadtests/ws_broadcast.py) against the floor, printed
    in its table: the sockets watch one post, events at a rate, deliveries and latency."""
    nats_url, prefix = nats
    nc = await connect_nats(nats_url, name="bench-peer-publisher")
    probe = PingProbe()  # its own socket, a warm-up user's: opened after the set-up figures
    try:
        await probe.start(target, Stats(sample_every=1), probe_token)
        plan = BroadcastPlan(
            post_id=WATCHED_POST,
            rate=args.broadcast_rate,
            start_rate=args.broadcast_start_rate,
            step_s=args.step_seconds,
            duration_s=args.duration,
            profile_seconds=0,
            profile_out=Path(os.devnull),  # no py-spy here
        )
        result = await broadcast(
            nc,
            prefix,
            plan,
            list(sockets),
            stats,
            probe,
            GcLog(None),  # the floor keeps no collector log: GC shows as "-"
            server_pid=pid,
            log=_log,
        )
    finally:
        await probe.stop()
        await close_nats(nc)
    print_broadcast(
        result,
        sample_every=SAMPLE_EVERY,
        serving=(
            "the floor: per event one orjson decode, one encode, one frame, a "
            "transport.write per watcher"
        ),
        joining="each subscribe recorded, neither executed nor authorised",
    )


def _log(line: str) -> None:
    print(line, flush=True)


def _cpus(cpus: Iterable[int] | None) -> str:
    return ",".join(map(str, sorted(cpus or ())))


def main() -> None:
    args = _parse_args()
    speed = core_speeds()
    print(speed_line(SERVER_CPU, speed), flush=True)
    raise_open_files()
    # Decided once: pinned to the other core, this process no longer sees two to pin to.
    pinned = can_pin()
    if pinned:
        os.sched_setaffinity(0, other_cpus())
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    print(f"signing {args.connections + args.warmup} tokens", flush=True)
    users = _tokens(key, args.connections + args.warmup)
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp, contextlib.ExitStack() as stack:
        nats = None
        if args.broadcast:
            # On the generator's core (this process's, once pinned), as bench_ws's services.
            nats_url = stack.enter_context(nats_for_run(other_cpus() if pinned else None))
            nats = (nats_url, f"bench_peer_{uuid.uuid4().hex[:8]}")
            print(f"NATS at {nats_url}, subjects {nats[1]}.post.>", flush=True)
        pem = Path(tmp) / "public.pem"
        pem.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        port = free_port()
        log_path = Path(tmp) / "peer.log"
        with _peer(args.peer, pem, port, log_path, pinned=pinned, nats=nats) as pid:
            print(
                f"peer on CPU {_cpus(psutil.Process(pid).cpu_affinity())}, load generator on "
                f"CPU {_cpus(os.sched_getaffinity(0))}",
                flush=True,
            )
            uvloop.run(_measure(port, pid, users, args, nats))
    print(speed_line(SERVER_CPU, speed, core_speeds()))


if __name__ == "__main__":
    main()
