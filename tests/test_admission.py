"""Admission in batches, around fake ports: what is done for one socket alone is done in
its own log context and fails it alone. (The real thing, through a real server, is in
test_ws_hub.py and test_socket_tickets.py.)"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from fowergram.domain.auth.service import Authenticated
from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.domain.errors import Unauthenticated
from fowergram.observability.logs import connection_id_var
from fowergram.observability.metrics import Metrics
from fowergram.realtime.admission import Admissions
from fowergram.realtime.connection import Connection, OutboundLimits
from fowergram.realtime.protocol import DIALECTS, TRANSPORT_WS, Close


class Wire:
    writing_paused = False

    def __init__(self) -> None:
        self.closed: tuple[int, str] | None = None

    def write_text(self, payload: bytes) -> None:
        pass

    def backlog(self) -> int:
        return 0

    def send_close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def send_ping(self) -> None:
        pass

    def abort(self) -> None:
        pass


class Auth:
    async def credentials(self, access_token: str) -> Authenticated:
        if not access_token.startswith("user-"):
            raise Unauthenticated("access token invalid")
        user_id = int(access_token.removeprefix("user-"))
        return Authenticated(Viewer(user_id, f"session-{user_id}", Role.USER), "csrf")

    async def revoked_among(self, authenticated: Sequence[Authenticated]) -> list[bool]:
        return [a.viewer.user_id == 13 for a in authenticated]


class Tickets:
    async def redeem(self, ticket: str) -> str | None:
        return None


class Hub:
    def __init__(self, failing: set[int], *, stuck: bool = False) -> None:
        self.failing = failing
        self.online: list[int] = []
        self.stuck = stuck  # NATS never confirms

    async def join_users(self, connections: Sequence[Connection]) -> list[BaseException | None]:
        await asyncio.sleep(0)
        if self.stuck:
            await asyncio.Event().wait()
        return [
            ConnectionError("nats down") if c.viewer and c.viewer.user_id in self.failing else None
            for c in connections
        ]

    async def went_online(self, connections: Sequence[Connection]) -> None:
        self.online += [c.viewer.user_id for c in connections if c.viewer]


class ContextRecorder(logging.Handler):
    """Each record with the connection id of the context it was logged in."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str | None]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), connection_id_var.get()))


def _socket(name: str) -> tuple[Connection, Wire]:
    wire = Wire()
    connection = Connection(
        name, DIALECTS[TRANSPORT_WS], wire, OutboundLimits(), now=0.0, on_slow=lambda: None
    )
    connection.pending = []  # connection_init received, not answered yet
    return connection, wire


def _add_in_own_context(admissions: Admissions, connection: Connection, token: str) -> None:
    def add() -> None:
        connection_id_var.set(connection.id)
        admissions.add(connection, {"authorization": f"Bearer {token}"})

    contextvars.copy_context().run(add)


async def _admit(
    tokens: dict[str, str], hub: Hub, admitted: Any
) -> dict[str, tuple[Connection, Wire]]:
    admissions = Admissions(Auth(), Tickets(), hub, Metrics(), admitted)
    sockets = {name: _socket(name) for name in tokens}
    for name, (connection, _) in sockets.items():
        _add_in_own_context(admissions, connection, tokens[name])
    for _ in range(20):  # the batch's steps
        await asyncio.sleep(0)
    return sockets


async def test_each_socket_is_answered_and_logged_in_its_own_context() -> None:
    recorder = ContextRecorder()
    logger = logging.getLogger("fowergram.realtime.admission")
    logger.addHandler(recorder)
    answered: list[tuple[str, str | None]] = []

    def admitted(connection: Connection) -> None:
        answered.append((connection.id, connection_id_var.get()))
        connection.pending = None

    try:
        sockets = await _admit(
            {"a": "user-1", "b": "user-2", "c": "forged", "d": "user-13", "e": "user-5"},
            Hub(failing={2}),
            admitted,
        )
    finally:
        logger.removeHandler(recorder)

    assert answered == [("a", "a"), ("e", "e")]
    assert recorder.seen == [("joining the user's channel failed", "b")]
    assert sockets["b"][1].closed == (Close.INTERNAL, "live channel unavailable, retry later")
    assert sockets["c"][1].closed == (Close.FORBIDDEN, "Forbidden: access token invalid")
    assert sockets["d"][1].closed == (Close.FORBIDDEN, "Forbidden: session revoked")
    assert all(connection.admission is None for connection, _ in sockets.values())


async def test_a_failure_answering_one_socket_closes_that_one_alone() -> None:
    hub = Hub(failing=set())

    def admitted(connection: Connection) -> None:
        if connection.id == "b":
            raise RuntimeError("a bug replaying what it sent")
        connection.pending = None

    sockets = await _admit({"a": "user-1", "b": "user-2", "c": "user-3"}, hub, admitted)

    assert hub.online == [1, 2, 3]
    assert sockets["a"][1].closed is None
    assert sockets["b"][1].closed == (Close.INTERNAL, "internal error")
    assert sockets["c"][1].closed is None


@pytest.mark.parametrize("steps", [0, 1, 3])
async def test_a_batch_cancelled_closes_what_it_had_not_answered(steps: int) -> None:
    hub = Hub(failing=set(), stuck=True)
    admissions = Admissions(Auth(), Tickets(), hub, Metrics(), lambda c: None)
    sockets = {name: _socket(name) for name in "ab"}
    for connection, _ in sockets.values():
        _add_in_own_context(admissions, connection, "user-1")
    await asyncio.sleep(0)  # the batch starts
    batch = sockets["a"][0].admission
    assert batch is not None
    for _ in range(steps):
        await asyncio.sleep(0)
    batch.cancel()
    await asyncio.wait([batch])
    await asyncio.sleep(0)  # its done callbacks
    assert batch.cancelled()
    assert [wire.closed for _, wire in sockets.values()] == [
        (Close.INTERNAL, "authentication unavailable, retry later")
    ] * 2
    assert all(connection.admission is None for connection, _ in sockets.values())


class OrderedAuth(Auth):
    def __init__(self, steps: list[str]) -> None:
        self.steps = steps

    async def revoked_among(self, authenticated: Sequence[Authenticated]) -> list[bool]:
        self.steps.append("revocations looked up")
        return await super().revoked_among(authenticated)


class OrderedHub(Hub):
    """Joins the channels; a revocation announced on user 7's arrives as it joins."""

    def __init__(self, steps: list[str], sockets: dict[str, tuple[Connection, Wire]]) -> None:
        super().__init__(failing=set())
        self.steps = steps
        self.sockets = sockets

    async def join_users(self, connections: Sequence[Connection]) -> list[BaseException | None]:
        self.steps.append("channels joined")
        for connection in connections:
            if connection.viewer is not None and connection.viewer.user_id == 7:
                connection.close(Close.FORBIDDEN, "session revoked")
        return await super().join_users(connections)


async def test_channels_are_live_before_the_revocation_look_up_that_admits() -> None:
    # A revocation is stored before it is announced: one the look-up misses is announced
    # on a channel already live. Admitted sockets carry the look-up's time, on which their
    # first operations rely (endpoint.SESSION_CHECK_FRESH_S).
    steps: list[str] = []
    answered: list[str] = []

    def admitted(connection: Connection) -> None:
        answered.append(connection.id)
        connection.pending = None

    sockets = {name: _socket(name) for name in ("a", "revoked-on-channel", "revoked")}
    tokens = {"a": "user-1", "revoked-on-channel": "user-7", "revoked": "user-13"}
    admissions = Admissions(
        OrderedAuth(steps), Tickets(), OrderedHub(steps, sockets), Metrics(), admitted
    )
    before = asyncio.get_running_loop().time()
    for name, (connection, _) in sockets.items():
        _add_in_own_context(admissions, connection, tokens[name])
    for _ in range(20):
        await asyncio.sleep(0)

    assert steps == ["channels joined", "revocations looked up"]
    assert answered == ["a"]
    checked_at = sockets["a"][0].session_checked_at
    assert checked_at is not None
    assert before <= checked_at <= asyncio.get_running_loop().time()
    assert sockets["revoked-on-channel"][1].closed == (Close.FORBIDDEN, "session revoked")
    assert sockets["revoked"][1].closed == (Close.FORBIDDEN, "Forbidden: session revoked")
    assert sockets["revoked"][0].session_checked_at is None
