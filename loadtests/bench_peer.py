"""Another server set up as `bench_ws` sets up our hub: the same client, the same cores, the
same measure, so that the two compare on the machine's speed of the day.

    npm ci --prefix loadtests/peer_node        # once: graphql-ws, ws, graphql-subscriptions
    python -m loadtests.bench_peer [--peer node|floor] [--connections 10000]
                                   [--concurrency 100]

--peer node (the default): the issue's Node.js reference stack (loadtests/peer_node).
--peer floor: the least a Python server on our stack must do per socket
(loadtests/peer_floor.py: upgrade, frames, the token verified, no more).

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

from fowergram.embedded.process import free_port
from loadtests.machine_speed import core_speeds, speed_line
from loadtests.server import SERVER_CPU, can_pin, other_cpus, stop, wait_ready
from loadtests.ws_loadgen import raise_open_files
from loadtests.ws_sockets import CpuWindow, Target, open_many, rss_kib, server_quiet
from loadtests.ws_wire import Stats

NODE_PEER = Path(__file__).with_name("peer_node")
PEERS = {
    "node": "Node.js peer (graphql-ws + ws + graphql-subscriptions, jsonwebtoken RS256)",
    "floor": "Python floor (loadtests/peer_floor.py: upgrade, frames, joserfc RS256, no more)",
}
ISSUER = "fowergram-bench-peer"
TOKEN_TTL_S = 3600


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--peer", choices=sorted(PEERS), default="node")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--warmup", type=int, default=100, help="sockets before the baseline")
    parser.add_argument("--concurrency", type=int, default=100, help="handshakes in flight")
    return parser.parse_args()


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
def _peer(peer: str, public_key: Path, port: int, log_path: Path, *, pinned: bool) -> Iterator[int]:
    argv = [f"--port={port}", f"--public-key={public_key}", f"--issuer={ISSUER}"]
    if peer == "floor":
        argv = [sys.executable, "-m", "loadtests.peer_floor", *argv]
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
    port: int, pid: int, users: list[tuple[int, str]], args: argparse.Namespace
) -> None:
    target = Target("127.0.0.1", port)
    warmup, measured = users[: args.warmup], users[args.warmup :]
    await open_many(target, Stats(sample_every=1), warmup, concurrency=args.concurrency)
    await server_quiet(pid)
    rss_before = rss_kib(pid)
    cpu = CpuWindow(pid)
    opened = await open_many(target, Stats(sample_every=10), measured, concurrency=args.concurrency)
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
    for socket in opened.sockets.values():
        socket.close()


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
    with tempfile.TemporaryDirectory(prefix="bench-peer-") as tmp:
        pem = Path(tmp) / "public.pem"
        pem.write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        port = free_port()
        with _peer(args.peer, pem, port, Path(tmp) / "peer.log", pinned=pinned) as pid:
            print(
                f"peer on CPU {_cpus(psutil.Process(pid).cpu_affinity())}, load generator on "
                f"CPU {_cpus(os.sched_getaffinity(0))}",
                flush=True,
            )
            uvloop.run(_measure(port, pid, users, args))
    print(speed_line(SERVER_CPU, speed, core_speeds()))


if __name__ == "__main__":
    main()
