"""Which notifications an event makes, and who may receive them (pure functions).

`intents` maps a recorded event to notification intents; the facts it needs beyond the
event (a reply's parent author, a post's mentions) are read by the caller through
ports and passed in. `deliverable` then applies the recipient's side: never your own
actions, nothing across a block (either way) or from someone the recipient mutes or
who is gone, nothing of a kind the recipient turned off, and nothing about content the
recipient may not see.

Group keys name what a group is about plus a window, the UTC day of the event
(Mastodon 4.3 groups likes and follows per target within a span; a fixed day is
deterministic, so a re-delivered or late event lands in the same group):
  like:post:<post>:<day>, comment_like:comment:<comment>:<day>,
  comment:post:<post>:<day>, reply:comment:<top-level comment>:<day>,
  mention:post:<post> (one per post: its author is the only actor),
  follow:<day>, follow_request:<day>, follow_accepted:<day> (all of a day's follows
  in one group: "ana and 4 others started following you").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fowergram.domain.events import RecordedEvent
from fowergram.domain.notifications.model import NotificationKind
from fowergram.domain.social.relationship import Owner, Relationship, can_see_content

Kind = NotificationKind

# The events that make notifications (what the recorder subscribes to).
EVENT_KINDS = frozenset(
    {
        "post.liked",
        "comment.liked",
        "comment.created",
        "post.created",
        "user.followed",
        "follow.requested",
        "follow.accepted",
    }
)

_GRAPH_EVENTS = {
    "user.followed": Kind.FOLLOW,
    "follow.requested": Kind.FOLLOW_REQUEST,
    # actorId approved targetId's request: the requester hears of it.
    "follow.accepted": Kind.FOLLOW_ACCEPTED,
}


@dataclass(frozen=True, slots=True)
class Intent:
    """One notification to record (or to merge into its open group)."""

    recipient_id: int
    kind: NotificationKind
    group_key: str
    actor_id: int
    post_id: int | None = None
    comment_id: int | None = None
    # Whose content it is about, when the recipient is not its owner: they must see it.
    content_owner_id: int | None = None


def _id(payload: Mapping[str, Any], key: str) -> int | None:
    value = payload.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _day(at: datetime) -> str:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    return aware.astimezone(UTC).date().isoformat()


def intents(
    event: RecordedEvent,
    *,
    parent_author_id: int | None = None,
    mentioned: Sequence[int] = (),
) -> list[Intent]:
    """The notifications `event` asks for, before the recipients' rules. A malformed
    payload makes none (raising would only have it retried for ever)."""
    payload, day = event.payload, _day(event.created_at)
    found: list[Intent] = []
    if event.kind == "post.liked":
        actor, author, post = _id(payload, "actorId"), _id(payload, "authorId"), event.aggregate_id
        if actor and author and post:
            found.append(Intent(author, Kind.LIKE, f"like:post:{post}:{day}", actor, post))
    elif event.kind == "comment.liked":
        actor, author, post = (
            _id(payload, "actorId"),
            _id(payload, "authorId"),
            _id(payload, "postId"),
        )
        comment = event.aggregate_id
        if actor and author and post and comment:
            key = f"comment_like:comment:{comment}:{day}"
            found.append(Intent(author, Kind.COMMENT_LIKE, key, actor, post, comment))
    elif event.kind == "comment.created":
        found.extend(_comment_intents(payload, day, parent_author_id))
    elif event.kind == "post.created":
        author, post = _id(payload, "authorId"), event.aggregate_id
        if author and post:
            key = f"mention:post:{post}"
            found.extend(
                Intent(user, Kind.MENTION, key, author, post, content_owner_id=author)
                for user in dict.fromkeys(mentioned)
            )
    elif (kind := _GRAPH_EVENTS.get(event.kind)) is not None:
        actor, target = _id(payload, "actorId"), _id(payload, "targetId")
        if actor and target:
            found.append(Intent(target, kind, f"{kind.value}:{day}", actor))
    return [intent for intent in found if intent.recipient_id != intent.actor_id]


def owner_of(event: RecordedEvent) -> int | None:
    """Whose content or account `event` is about: the author of the liked post or comment,
    of the commented post (a reply's parent comment is on that post), of the new post (its
    mentions), or the followed user. Every group key an event's intents use is about
    something of that owner, so two events that can meet in a group have the same owner."""
    payload = event.payload
    if event.kind in ("post.liked", "comment.liked", "post.created"):
        return _id(payload, "authorId")
    if event.kind == "comment.created":
        return _id(payload, "postAuthorId")
    if event.kind in _GRAPH_EVENTS:
        return _id(payload, "targetId")
    return None


def _comment_intents(
    payload: Mapping[str, Any], day: str, parent_author_id: int | None
) -> list[Intent]:
    actor, post, comment = (
        _id(payload, "authorId"),
        _id(payload, "postId"),
        _id(payload, "commentId"),
    )
    post_author, parent = _id(payload, "postAuthorId"), _id(payload, "parentId")
    if not (actor and post and comment and post_author):
        return []
    found: list[Intent] = []
    if parent and parent_author_id:
        key = f"reply:comment:{parent}:{day}"
        found.append(Intent(parent_author_id, Kind.REPLY, key, actor, post, comment, post_author))
    # The post's author hears of a reply to their own comment once, as a reply.
    if parent_author_id != post_author or not parent:
        key = f"comment:post:{post}:{day}"
        found.append(Intent(post_author, Kind.COMMENT, key, actor, post, comment))
    return found


def deliverable(
    intent: Intent,
    *,
    standings: Mapping[int, tuple[Owner, Relationship]],
    disabled: frozenset[NotificationKind],
) -> bool:
    """Whether the recipient gets `intent`. `standings`: the actor and the content's owner
    as the recipient stands to them (Standings.standing(recipient, [...]))."""
    recipient = intent.recipient_id
    if intent.actor_id == recipient or intent.kind in disabled:
        return False
    actor = standings.get(intent.actor_id)
    if actor is None:
        return False
    owner, rel = actor
    if owner.deleted or rel.blocking or rel.blocked_by or rel.muting:
        return False
    about = intent.content_owner_id
    if about is not None and about != recipient:
        content = standings.get(about)
        if content is None or not can_see_content(recipient, *content):
            return False
    return True
