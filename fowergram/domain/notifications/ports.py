"""What notifications need from the outside: their store, facts about the content an
event names, and the recipients' live channels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from fowergram.domain.notifications.grouping import Merge
from fowergram.domain.notifications.model import Notification, NotificationKind
from fowergram.domain.notifications.rules import Intent
from fowergram.domain.pagination import Key, Page
from fowergram.domain.social.relationship import Owner, Relationship


class NotificationStore(Protocol):
    async def record(
        self, consumer: str, event_id: int, intents: Sequence[Intent], merge: Merge
    ) -> list[Notification] | None:
        """In one transaction: mark the event handled by `consumer` and write each intent
        into its group as `merge` decides. Returns the rows created or changed; None if
        the event was handled already (nothing is written twice)."""
        ...

    async def page(self, recipient_id: int, after: Key | None, size: int) -> Page[Notification]:
        """Newest (highest id) first, keyed by (id,)."""
        ...

    async def since(self, recipient_id: int, after_id: int, limit: int) -> list[Notification]:
        """Ids above `after_id`, ascending."""
        ...

    async def unread_count(self, recipient_id: int) -> int: ...

    async def mark_read(self, recipient_id: int, up_to: int | None) -> int:
        """Mark unread rows with id <= up_to (all if None) read; the unread count after."""
        ...

    async def disabled_kinds(
        self, user_ids: Sequence[int]
    ) -> dict[int, frozenset[NotificationKind]]:
        """Each user's turned-off kinds (users with none may be left out)."""
        ...

    async def update_settings(
        self,
        user_id: int,
        enable: frozenset[NotificationKind],
        disable: frozenset[NotificationKind],
    ) -> frozenset[NotificationKind]:
        """Turn kinds on and off in one atomic step; the turned-off kinds after."""
        ...

    async def pruned_through(self) -> int:
        """The highest notification id retention ever deleted (0: none): a resume from a
        lower id may have lost rows."""
        ...


@dataclass(frozen=True, slots=True)
class Audience:
    """What decides whether a recipient gets a notification: the kinds they turned off,
    and how they stand to the people it is about (the actor, the content's owner; as
    `Standings.standing(recipient, people)` reads it: unknown people are left out)."""

    disabled: frozenset[NotificationKind] = frozenset()
    standings: Mapping[int, tuple[Owner, Relationship]] = field(default_factory=dict)


class Audiences(Protocol):
    async def audience(self, recipient_id: int, people: Sequence[int]) -> Audience:
        """The recipient's settings and standings, in one read."""
        ...


class EventFacts(Protocol):
    async def comment_author(self, comment_id: int) -> int | None:
        """Who wrote a live comment (None: missing or deleted)."""
        ...

    async def mentioned_users(self, post_id: int) -> list[int]:
        """The live users a live post's caption mentions (none if the post is gone)."""
        ...


class LiveChannel(Protocol):
    async def to_user(self, user_id: int, message: dict[str, Any]) -> None:
        """Push a JSON-able message to the user's live channel (at most once, best effort)."""
        ...
