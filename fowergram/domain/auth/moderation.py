"""Suspending accounts: a moderator bans someone, every session of theirs ends at once
(HTTP and sockets, on every instance: the revocation path of a sign-out everywhere), and
no new one starts until the ban is lifted.

Who may ban whom is one rule (`may_ban`): only someone who outranks the account (a
moderator bans users, an admin bans users and moderators), never oneself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.sessions import RevokeReason
from fowergram.domain.auth.viewer import Role, Viewer, outranks, require_role
from fowergram.domain.clock import Clock
from fowergram.domain.errors import BadUserInput, Forbidden, NotFound
from fowergram.domain.social.profile_update import clean_text

MAX_BAN_REASON = 500


class BannableAccounts(Protocol):
    async def get_by_id(self, user_id: int) -> Account | None: ...

    async def set_banned(
        self, user_id: int, *, banned_at: datetime | None, reason: str | None
    ) -> bool:
        """Set or lift the ban of a live (not deleted) account; False if there is none."""
        ...


class SessionEnder(Protocol):
    """The auth provider's side: end every session of a user, announced to the hub."""

    async def end_all_sessions(self, user_id: int, reason: RevokeReason) -> int: ...


@dataclass(frozen=True, slots=True)
class BanOutcome:
    user_id: int
    banned_at: datetime | None
    sessions_ended: int


def may_ban(moderator: Viewer, target: Account) -> bool:
    return moderator.user_id != target.id and outranks(moderator.role, target.role)


class Moderation:
    def __init__(self, accounts: BannableAccounts, sessions: SessionEnder, clock: Clock) -> None:
        self._accounts = accounts
        self._sessions = sessions
        self._clock = clock

    async def ban(self, moderator: Viewer | None, user_id: int, reason: str) -> BanOutcome:
        acting = require_role(moderator, Role.MODERATOR)
        why = clean_text(reason, field="reason", max_length=MAX_BAN_REASON, multiline=True)
        if not why:
            raise BadUserInput("say why the account is suspended", field="reason")
        target = await self._target(acting, user_id)
        banned_at = target.banned_at or self._clock.now()
        if not await self._accounts.set_banned(target.id, banned_at=banned_at, reason=why):
            raise NotFound("no such user")
        ended = await self._sessions.end_all_sessions(target.id, RevokeReason.BANNED)
        return BanOutcome(target.id, banned_at, ended)

    async def unban(self, moderator: Viewer | None, user_id: int) -> BanOutcome:
        acting = require_role(moderator, Role.MODERATOR)
        target = await self._target(acting, user_id)
        if not await self._accounts.set_banned(target.id, banned_at=None, reason=None):
            raise NotFound("no such user")
        return BanOutcome(target.id, None, 0)

    async def _target(self, moderator: Viewer, user_id: int) -> Account:
        target = await self._accounts.get_by_id(user_id)
        if target is None or target.deleted_at is not None:
            raise NotFound("no such user")
        if not may_ban(moderator, target):
            raise Forbidden("only someone above this account's role may suspend it")
        return target
