"""A notification as the domain knows it: one grouped row ("ana and 2 others liked your
post"), its kinds, the recipient's settings, and its wire form for the live channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class NotificationKind(StrEnum):
    LIKE = "like"
    COMMENT = "comment"
    REPLY = "reply"
    MENTION = "mention"
    FOLLOW = "follow"
    FOLLOW_REQUEST = "follow_request"
    FOLLOW_ACCEPTED = "follow_accepted"
    COMMENT_LIKE = "comment_like"


ALL_KINDS = frozenset(NotificationKind)


@dataclass(frozen=True, slots=True)
class Notification:
    id: int  # re-keyed when the group gains an actor: a bumped group sorts first
    recipient_id: int
    kind: NotificationKind
    group_key: str
    actor_ids: tuple[int, ...]  # the latest actors, latest first, capped
    actor_count: int  # every distinct actor of the group, >= len(actor_ids)
    post_id: int | None
    comment_id: int | None
    created_at: datetime
    updated_at: datetime
    read_at: datetime | None

    @property
    def read(self) -> bool:
        return self.read_at is not None


@dataclass(frozen=True, slots=True)
class NotificationSettings:
    """What a user turned off; a kind added later is on for everybody until they turn it off."""

    disabled: frozenset[NotificationKind] = frozenset()

    @property
    def enabled(self) -> frozenset[NotificationKind]:
        return ALL_KINDS - self.disabled


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def notification_to_wire(notification: Notification) -> dict[str, Any]:
    """A JSON-able dict (ids as ints, times ISO 8601) for the recipient's live channel."""
    return {
        "id": notification.id,
        "recipientId": notification.recipient_id,
        "kind": notification.kind.value,
        "groupKey": notification.group_key,
        "actorIds": list(notification.actor_ids),
        "actorCount": notification.actor_count,
        "postId": notification.post_id,
        "commentId": notification.comment_id,
        "createdAt": _time(notification.created_at),
        "updatedAt": _time(notification.updated_at),
        "readAt": _time(notification.read_at),
    }


def notification_from_wire(fields: dict[str, Any]) -> Notification:
    """The inverse of `notification_to_wire`; KeyError/ValueError if it is not one."""
    read_at = fields["readAt"]
    return Notification(
        id=int(fields["id"]),
        recipient_id=int(fields["recipientId"]),
        kind=NotificationKind(fields["kind"]),
        group_key=str(fields["groupKey"]),
        actor_ids=tuple(int(actor) for actor in fields["actorIds"]),
        actor_count=int(fields["actorCount"]),
        post_id=None if fields["postId"] is None else int(fields["postId"]),
        comment_id=None if fields["commentId"] is None else int(fields["commentId"]),
        created_at=datetime.fromisoformat(fields["createdAt"]),
        updated_at=datetime.fromisoformat(fields["updatedAt"]),
        read_at=None if read_at is None else datetime.fromisoformat(read_at),
    )
