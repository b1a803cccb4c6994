"""Presence as resolvers and subscriptions ask for it: whom the viewer may see, and how.

The tracker (the realtime hub's side: sockets opening and closing, the snapshot) and the
audience (each person's setting and relationships, from PostgreSQL) are ports; the rule
that joins them is `can_see_presence`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.errors import BadUserInput
from fowergram.domain.ids import parse_id
from fowergram.domain.presence import PresenceState, PresenceSubject, can_see_presence

MAX_USER_IDS = 100


class PresenceTracking(Protocol):
    async def connected(self, user_id: int, connection_id: str) -> None: ...

    async def connected_many(self, sockets: Sequence[tuple[int, str]]) -> None:
        """`connected` for each (user id, connection id), together."""
        ...

    async def disconnected(self, user_id: int, connection_id: str) -> None: ...

    async def snapshot(self, user_ids: Sequence[int]) -> dict[int, PresenceState]:
        """Everyone asked for, online or not (never seen: offline, no last seen)."""
        ...


@dataclass(frozen=True, slots=True)
class AudienceFacts:
    viewer_shares: bool
    subjects: Mapping[int, PresenceSubject]  # existing people only


class PresenceAudience(Protocol):
    async def facts(self, viewer_id: int, user_ids: Sequence[int]) -> AudienceFacts: ...

    async def shows_activity_status(self, user_id: int) -> bool | None:
        """The person's own setting; None if there is no such person."""
        ...


def parse_user_ids(values: Sequence[object], *, field: str = "userIds") -> list[int]:
    """At most MAX_USER_IDS valid ids, duplicates dropped, order kept."""
    if len(values) > MAX_USER_IDS:
        raise BadUserInput(f"at most {MAX_USER_IDS} user ids at a time", field=field)
    return list(dict.fromkeys(parse_id(value, field=field) for value in values))


class PresenceService:
    def __init__(self, *, tracker: PresenceTracking, audience: PresenceAudience) -> None:
        self.tracker = tracker  # the hub reports sockets opening and closing to it
        self._audience = audience

    async def visible(self, viewer: Viewer, user_ids: Sequence[int]) -> list[int]:
        """Those of `user_ids` whose presence the viewer may see, in the order asked."""
        if not user_ids:
            return []
        facts = await self._audience.facts(viewer.user_id, user_ids)
        return [
            user_id
            for user_id in user_ids
            if (subject := facts.subjects.get(user_id)) is not None
            and can_see_presence(viewer.user_id, facts.viewer_shares, subject)
        ]

    async def presence(self, viewer: Viewer, user_ids: Sequence[object]) -> list[PresenceState]:
        """The presence of those asked for whom the viewer may see; the others are left
        out (hidden, blocked, unknown and not followed back look alike)."""
        visible = await self.visible(viewer, parse_user_ids(user_ids))
        if not visible:
            return []
        states = await self.tracker.snapshot(visible)
        return [states[user_id] for user_id in visible]

    async def shows_activity_status(self, user_id: int) -> bool | None:
        return await self._audience.shows_activity_status(user_id)
