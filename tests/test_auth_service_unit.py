"""AuthService's rules with in-memory fakes and a clock we move: no I/O, no sleeping."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.ports import AccessClaims, Rate
from fowergram.domain.auth.service import Authenticated, AuthPolicy, AuthService
from fowergram.domain.auth.sessions import (
    ClientInfo,
    RefreshOutcome,
    RefreshTokenRecord,
    RevokeReason,
    Session,
    classify_refresh,
)
from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.domain.errors import MfaRequired, RateLimited, Unauthenticated

CLIENT = ClientInfo(ip="192.0.2.1", user_agent="unit")


@dataclass
class Clock:
    at: datetime = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at


class Hasher:
    async def hash(self, password: str) -> str:
        return f"hashed:{password}"

    async def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == f"hashed:{password}"

    def needs_rehash(self, password_hash: str) -> bool:
        return False


class Tokens:
    async def issue(self, claims: AccessClaims) -> str:
        return f"{claims.user_id}|{claims.session_id}|{claims.anti_csrf}"

    async def verify(self, token: str) -> AccessClaims:
        user, session, csrf = token.split("|")
        return AccessClaims(int(user), session, Role.USER, csrf, datetime.now(UTC))


@dataclass
class Accounts:
    rows: dict[int, Account] = field(default_factory=dict)

    async def insert(self, *, username: str, email: str, password_hash: str | None) -> Account:
        account = Account(
            len(self.rows) + 1, username, email, password_hash, Role.USER, None, datetime.now(UTC)
        )
        self.rows[account.id] = account
        return account

    async def get_by_id(self, user_id: int) -> Account | None:
        return self.rows.get(user_id)

    async def get_by_email(self, email: str) -> Account | None:
        return next((a for a in self.rows.values() if a.email == email), None)

    async def get_by_username(self, username: str) -> Account | None:
        return next((a for a in self.rows.values() if a.username == username), None)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self.rows[user_id] = replace(self.rows[user_id], password_hash=password_hash)


@dataclass
class Sessions:
    clock: Clock
    sessions: dict[str, Session] = field(default_factory=dict)
    tokens: dict[bytes, tuple[str, datetime | None]] = field(default_factory=dict)

    async def create(
        self,
        *,
        session_id: str,
        user_id: int,
        refresh_hash: bytes,
        expires_at: datetime,
        client: ClientInfo,
    ) -> None:
        now = self.clock.now()
        self.sessions[session_id] = Session(
            session_id, user_id, now, now, expires_at, None, client.user_agent, client.ip
        )
        self.tokens[refresh_hash] = (session_id, None)

    async def find_refresh(self, refresh_hash: bytes) -> RefreshTokenRecord | None:
        if refresh_hash not in self.tokens:
            return None
        session_id, replaced_at = self.tokens[refresh_hash]
        session = self.sessions[session_id]
        return RefreshTokenRecord(
            session_id, session.user_id, replaced_at, session.expires_at, session.revoked_at
        )

    async def rotate(
        self, *, old_hash: bytes, new_hash: bytes, session_id: str, expires_at: datetime
    ) -> bool:
        if self.tokens[old_hash][1] is not None:
            return False
        self.tokens[old_hash] = (session_id, self.clock.now())
        self.tokens[new_hash] = (session_id, None)
        self.sessions[session_id] = replace(self.sessions[session_id], expires_at=expires_at)
        return True

    async def revoke(
        self, session_ids: Sequence[str], reason: RevokeReason, *, user_id: int
    ) -> list[str]:
        revoked = []
        for sid in session_ids:
            session = self.sessions.get(sid)
            if session and session.user_id == user_id and session.revoked_at is None:
                self.sessions[sid] = replace(session, revoked_at=self.clock.now())
                revoked.append(sid)
        return revoked

    async def revoke_all(
        self, user_id: int, reason: RevokeReason, *, except_session: str | None = None
    ) -> list[str]:
        ids = [
            s.id for s in self.sessions.values() if s.user_id == user_id and s.id != except_session
        ]
        return await self.revoke(ids, reason, user_id=user_id)

    async def list_active(self, user_id: int) -> list[Session]:
        return [s for s in self.sessions.values() if s.user_id == user_id and not s.revoked_at]


@dataclass
class Recorder:
    revoked: set[str] = field(default_factory=set)
    events: list[tuple[int, list[str]]] = field(default_factory=list)

    async def add(self, session_ids: Sequence[str]) -> None:
        self.revoked.update(session_ids)

    async def contains(self, session_id: str) -> bool:
        return session_id in self.revoked

    async def contains_many(self, session_ids: Sequence[str]) -> list[bool]:
        return [session_id in self.revoked for session_id in session_ids]

    async def sessions_revoked(self, user_id: int, session_ids: Sequence[str]) -> None:
        self.events.append((user_id, list(session_ids)))


@dataclass
class Limiter:
    counts: dict[str, int] = field(default_factory=dict)

    async def hit(self, key: str, rate: Rate) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        if self.counts[key] > rate.limit:
            raise RateLimited(rate.window_s)

    async def check(self, key: str, rate: Rate) -> None:
        if self.counts.get(key, 0) >= rate.limit:
            raise RateLimited(rate.window_s)


class Secrets:
    def __init__(self) -> None:
        self._counter = itertools.count()

    def token(self) -> str:
        return f"token-{next(self._counter)}"

    def session_id(self) -> str:
        return f"00000000-0000-0000-0000-{next(self._counter):012d}"

    def recovery_code(self) -> str:
        return "AAAA-BBBB-CCCC-DDDD"


@dataclass
class SecondFactor:
    required_for: set[int] = field(default_factory=set)

    async def is_required(self, user_id: int) -> bool:
        return user_id in self.required_for

    async def verify(
        self, user_id: int, *, code: str | None = None, recovery_code: str | None = None
    ) -> bool:
        return code == "123456"


@dataclass
class Challenges:
    stored: dict[bytes, int] = field(default_factory=dict)

    async def put(self, token_hash: bytes, user_id: int, ttl_s: int) -> None:
        self.stored[token_hash] = user_id

    async def get(self, token_hash: bytes) -> int | None:
        return self.stored.get(token_hash)

    async def delete(self, token_hash: bytes) -> None:
        self.stored.pop(token_hash, None)


@dataclass
class World:
    clock: Clock
    recorder: Recorder
    limiter: Limiter
    second_factor: SecondFactor
    service: AuthService


@pytest.fixture
def world() -> World:
    clock, recorder, limiter, second_factor = Clock(), Recorder(), Limiter(), SecondFactor()
    service = AuthService(
        accounts=Accounts(),
        sessions=Sessions(clock),
        hasher=Hasher(),
        tokens=Tokens(),
        revocations=recorder,
        events=recorder,
        limiter=limiter,
        secrets=Secrets(),
        clock=clock,
        policy=AuthPolicy(
            access_ttl=timedelta(minutes=15),
            refresh_ttl=timedelta(days=30),
            reuse_grace=timedelta(seconds=10),
        ),
        dummy_password_hash="hashed:nobody's",
        second_factor=second_factor,
        challenges=Challenges(),
    )
    return World(clock, recorder, limiter, second_factor, service)


async def _sign_up(world: World) -> str:
    _, tokens = await world.service.sign_up(
        email="Ana@Example.com", username="Ana", password="long enough", client=CLIENT
    )
    return tokens.refresh_token


def test_refresh_classification_is_a_pure_rule() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    live = RefreshTokenRecord("s", 1, None, now + timedelta(days=1), None)
    assert classify_refresh(live, now=now) is RefreshOutcome.ROTATE
    assert classify_refresh(replace(live, replaced_at=now), now=now) is RefreshOutcome.REUSED
    assert classify_refresh(live, now=now + timedelta(days=2)) is RefreshOutcome.ENDED
    revoked = replace(live, replaced_at=now, session_revoked_at=now)
    assert classify_refresh(revoked, now=now) is RefreshOutcome.ENDED
    just_replaced = replace(live, replaced_at=now - timedelta(seconds=3))
    grace = timedelta(seconds=10)
    assert classify_refresh(just_replaced, now=now, grace=grace) is RefreshOutcome.SUPERSEDED
    later = now + timedelta(seconds=8)
    assert classify_refresh(just_replaced, now=later, grace=grace) is RefreshOutcome.REUSED


async def test_refresh_slides_the_session_until_it_lapses(world: World) -> None:
    token = await _sign_up(world)
    for _ in range(3):  # every 20 days: still alive, since each refresh slides 30 days
        world.clock.at += timedelta(days=20)
        _, tokens = await world.service.refresh(token)
        token = tokens.refresh_token
    world.clock.at += timedelta(days=31)
    with pytest.raises(Unauthenticated, match="session ended"):
        await world.service.refresh(token)


async def test_a_replayed_refresh_token_revokes_and_announces(world: World) -> None:
    first = await _sign_up(world)
    _, rotated = await world.service.refresh(first)
    with pytest.raises(Unauthenticated, match="just rotated"):  # a race, not theft
        await world.service.refresh(first)
    assert world.recorder.revoked == set()
    world.clock.at += timedelta(seconds=11)
    with pytest.raises(Unauthenticated, match="reused"):
        await world.service.refresh(first)
    assert rotated.session_id in world.recorder.revoked
    assert world.recorder.events == [(1, [rotated.session_id])]
    with pytest.raises(Unauthenticated):
        await world.service.refresh(rotated.refresh_token)  # the family is gone
    with pytest.raises(Unauthenticated, match="revoked"):
        await world.service.authenticate(rotated.access_token)


async def test_an_account_at_its_failure_limit_is_refused_even_with_the_password(
    world: World,
) -> None:
    await _sign_up(world)
    for _ in range(10):
        with pytest.raises(Unauthenticated):
            await world.service.sign_in(identifier="ana", password="wrong!!!", client=CLIENT)
    with pytest.raises(RateLimited):
        await world.service.sign_in(identifier="ana", password="long enough", client=CLIENT)


async def test_unknown_and_malformed_identifiers_fail_like_a_wrong_password(world: World) -> None:
    await _sign_up(world)
    messages = set()
    for identifier in ("ana", "nobody", "no@such.example", "bad identifier!", ""):
        with pytest.raises(Unauthenticated) as failed:
            await world.service.sign_in(identifier=identifier, password="nope nope", client=CLIENT)
        messages.add(failed.value.message)
    assert len(messages) == 1


async def test_second_factor_gates_the_session(world: World) -> None:
    await _sign_up(world)
    world.second_factor.required_for.add(1)
    with pytest.raises(MfaRequired) as required:
        await world.service.sign_in(identifier="ana", password="long enough", client=CLIENT)
    mfa_token = required.value.mfa_token
    with pytest.raises(Exception, match="not valid"):
        await world.service.complete_sign_in(
            mfa_token=mfa_token, code="000000", recovery_code=None, client=CLIENT
        )
    account, tokens = await world.service.complete_sign_in(
        mfa_token=mfa_token, code="123456", recovery_code=None, client=CLIENT
    )
    assert account.username == "ana"
    assert tokens.access_token
    with pytest.raises(Unauthenticated, match="expired"):
        await world.service.complete_sign_in(
            mfa_token=mfa_token, code="123456", recovery_code=None, client=CLIENT
        )


def test_a_presented_token_is_expired_from_its_expiry_on() -> None:
    # The rule a socket's operations are refused by (and started at once only before).
    expires_at = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    authenticated = Authenticated(Viewer(1, "s", Role.USER), "csrf", expires_at)
    assert not authenticated.expired(expires_at - timedelta(microseconds=1))
    assert authenticated.expired(expires_at)
    assert authenticated.expired(expires_at + timedelta(hours=1))
    assert not Authenticated(Viewer(1, "s", Role.USER), "csrf").expired(expires_at)
