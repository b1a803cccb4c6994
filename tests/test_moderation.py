"""Suspending accounts: who may ban whom, and a ban through a real server — every session
ends (the banned user's socket closes within a second), no new one starts until it is
lifted, and refusals change nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from support.auth_helpers import PASSWORD, bearer, error_of, graphql, http_client, sign_in
from support.live_server import LiveServer
from support.social_helpers import Member, join
from support.ws_client import TRANSPORT_WS, closed_with, init
from websockets.asyncio.client import connect

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.moderation import may_ban
from fowergram.domain.auth.viewer import Role, Viewer

BAN = (
    "mutation B($id: ID!, $reason: String!) "
    "{ banUser(userId: $id, reason: $reason) { userId bannedAt sessionsEnded } }"
)
UNBAN = "mutation U($id: ID!) { unbanUser(userId: $id) { userId bannedAt sessionsEnded } }"
ME = "{ me { id } }"


def _account(user_id: int, role: Role) -> Account:
    now = datetime.now(UTC)
    return Account(user_id, f"u{user_id}", f"u{user_id}@x.example", None, role, now, now)


@pytest.mark.parametrize(
    ("acting", "target", "allowed"),
    [
        (Role.MODERATOR, Role.USER, True),
        (Role.ADMIN, Role.USER, True),
        (Role.ADMIN, Role.MODERATOR, True),
        (Role.MODERATOR, Role.MODERATOR, False),
        (Role.MODERATOR, Role.ADMIN, False),
        (Role.ADMIN, Role.ADMIN, False),
        (Role.USER, Role.USER, False),
    ],
)
def test_only_a_higher_role_may_ban(acting: Role, target: Role, allowed: bool) -> None:
    assert may_ban(Viewer(1, "s", acting), _account(2, target)) is allowed


def test_nobody_bans_themselves() -> None:
    assert not may_ban(Viewer(1, "s", Role.ADMIN), _account(1, Role.USER))


def _with_role(server: LiveServer, member: Member, role: Role) -> Member:
    """The member with `role`, signed in again (the role travels in the token)."""
    with psycopg.connect(server.settings.database_url or "", autocommit=True) as conn:
        conn.execute("UPDATE users SET role = %s WHERE id = %s", (role.value, member.id))
    session = sign_in(member.client, member.username)
    return Member(member.id, member.username, member.client, session["accessToken"])


def _banned_at(server: LiveServer, member: Member) -> Any:
    with psycopg.connect(server.settings.database_url or "", autocommit=True) as conn:
        row = conn.execute("SELECT banned_at FROM users WHERE id = %s", (member.id,)).fetchone()
    assert row is not None
    return row[0]


def _code(body: dict[str, Any]) -> str:
    code: str = body["errors"][0]["extensions"]["code"]
    return code


async def test_a_ban_ends_every_session_at_once_and_holds_until_lifted(
    live_server: LiveServer,
) -> None:
    moderator = _with_role(live_server, join(live_server.http_url), Role.MODERATOR)
    member = join(live_server.http_url)
    async with connect(live_server.ws_url, subprotocols=[TRANSPORT_WS]) as ws:
        await init(ws, {"authorization": f"Bearer {member.token}"})
        banned = moderator.data(BAN, {"id": str(member.id), "reason": "spam\nand abuse"})
        started = time.monotonic()
        assert await closed_with(ws, timeout=3) == 4403
        assert time.monotonic() - started < 1.0
    suspension = banned["banUser"]
    assert suspension["userId"] == str(member.id)
    assert suspension["bannedAt"] is not None
    assert suspension["sessionsEnded"] == 1
    revoked = graphql(member.client, ME, headers=bearer(member.token))
    assert error_of(revoked, 401)["extensions"]["code"] == "UNAUTHENTICATED"
    with http_client(live_server.http_url) as client:
        wrong = {"identifier": member.username, "password": "wrong password"}
        refused = error_of(client.post("/auth/signin", json=wrong), 401)
        assert refused["extensions"]["code"] == "UNAUTHENTICATED"  # tells nothing more
        right = {"identifier": member.username, "password": PASSWORD}
        suspended = error_of(client.post("/auth/signin", json=right), 403)
        assert suspended["extensions"]["code"] == "FORBIDDEN"
        assert suspended["message"] == "this account is suspended"

    lifted = moderator.data(UNBAN, {"id": str(member.id)})["unbanUser"]
    assert lifted == {"userId": str(member.id), "bannedAt": None, "sessionsEnded": 0}
    again = sign_in(member.client, member.username)
    assert again["accessToken"]


async def test_refusals_change_nothing(live_server: LiveServer) -> None:
    moderator = _with_role(live_server, join(live_server.http_url), Role.MODERATOR)
    admin = _with_role(live_server, join(live_server.http_url), Role.ADMIN)
    other_moderator = _with_role(live_server, join(live_server.http_url), Role.MODERATOR)
    member = join(live_server.http_url)
    reason = {"reason": "rude"}
    cases = [
        (member, {"id": str(moderator.id), **reason}, "FORBIDDEN"),  # not a moderator
        (moderator, {"id": str(other_moderator.id), **reason}, "FORBIDDEN"),  # same rank
        (moderator, {"id": str(admin.id), **reason}, "FORBIDDEN"),  # above
        (moderator, {"id": str(moderator.id), **reason}, "FORBIDDEN"),  # oneself
        (moderator, {"id": "999999999", **reason}, "NOT_FOUND"),
        (moderator, {"id": "x'; DROP TABLE users; --", **reason}, "BAD_USER_INPUT"),
        (moderator, {"id": str(member.id), "reason": "   "}, "BAD_USER_INPUT"),
        (moderator, {"id": str(member.id), "reason": "x" * 501}, "BAD_USER_INPUT"),
        (moderator, {"id": str(member.id), "reason": "bad\u0000byte"}, "BAD_USER_INPUT"),
    ]
    for acting, variables, code in cases:
        assert _code(acting.query(BAN, variables)) == code, variables
    for target in (member, moderator, other_moderator, admin):
        assert _banned_at(live_server, target) is None
    assert member.data(ME)["me"]["id"] == str(member.id)  # still signed in
    # An admin may suspend a moderator.
    assert admin.data(BAN, {"id": str(other_moderator.id), "reason": "abuse of tools"})
    assert _banned_at(live_server, other_moderator) is not None
