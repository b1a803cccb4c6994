"""The kernel's floor under the broadcast: CPU per small `send()` on loopback, no server.

    python -m loadtests.bench_send_floor [--sockets 10000] [--rounds 40]

A child pinned to the load generator's cores (CPU 1 here) opens --sockets TCP
connections to this process and reads whatever arrives; this process, pinned to the
server's core (CPU 0), writes one 102-byte WebSocket text frame to every socket,
--rounds times, 100 ms apart (the broadcast scenario's 10 events/s), and prints the CPU
time (user + kernel) per `send()` of each round: median and range. On loopback the
receiver's TCP work runs inside the sender's call, so this is what one delivery costs
the server's core before any Python of its own; times 10,000 it is the shortest one
event's fan-out can take (`make bench-peer PEER=floor` adds a real server's minimum
around it).
"""

from __future__ import annotations

import argparse
import os
import selectors
import socket
import statistics
import time

from fowergram.realtime.text_frames import text_frame_header
from loadtests.server import SERVER_CPU, can_pin, other_cpus

PAYLOAD = b"x" * 100  # about a broadcast frame's size
FRAME = text_frame_header(len(PAYLOAD)) + PAYLOAD
ROUND_GAP_S = 0.1


def _read_until_closed(port: int, sockets: int) -> None:
    """The receiving side (in the child): connect, then read until every socket closes."""
    selector = selectors.DefaultSelector()
    for _ in range(sockets):
        connection = socket.create_connection(("127.0.0.1", port))
        connection.setblocking(False)
        selector.register(connection, selectors.EVENT_READ, connection)
    open_sockets = sockets
    while open_sockets:
        for key, _ in selector.select(1.0):
            connection = key.data
            try:
                data = connection.recv(65536)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(connection)
                connection.close()
                open_sockets -= 1


def _send_rounds(connections: list[socket.socket], rounds: int) -> list[float]:
    """CPU µs per send, one figure a round."""
    per_send: list[float] = []
    for _ in range(rounds):
        started = time.process_time()
        for connection in connections:
            connection.send(FRAME)
        per_send.append((time.process_time() - started) / len(connections) * 1e6)
        time.sleep(ROUND_GAP_S)
    return per_send


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    pinned = can_pin()
    receiver_cpus = other_cpus()  # asked before this process pins itself
    child = os.fork()
    if child == 0:
        if pinned:
            os.sched_setaffinity(0, receiver_cpus)
        _read_until_closed(port, args.sockets)
        os._exit(0)
    if pinned:
        os.sched_setaffinity(0, {SERVER_CPU})
    connections = [listener.accept()[0] for _ in range(args.sockets)]
    for connection in connections:
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as the hub's
    try:
        per_send = _send_rounds(connections, args.rounds)
    finally:
        for connection in connections:
            connection.close()
        os.waitpid(child, 0)
    median = statistics.median(per_send)
    where = (
        f"sender on CPU {SERVER_CPU}, receiver on CPU {','.join(map(str, sorted(receiver_cpus)))}"
        if pinned
        else "not pinned"
    )
    print(
        f"loopback send() of a {len(FRAME)}-byte frame to {args.sockets} sockets, "
        f"{args.rounds} rounds {ROUND_GAP_S * 1000:.0f} ms apart ({where}):"
    )
    print(
        f"  CPU per send   median {median:.2f} µs (rounds {min(per_send):.2f}-"
        f"{max(per_send):.2f} µs)"
    )
    print(
        f"  one event's fan-out to {args.sockets} sockets: {median * args.sockets / 1000:.0f} ms "
        f"of the sender's core at the median ({min(per_send) * args.sockets / 1000:.0f} ms "
        "at the fastest round), before any server code"
    )


if __name__ == "__main__":
    main()
