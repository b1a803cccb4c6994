"""Live post activity: the consumer handler that tells a post's watchers what changed.

For a like, an unlike, a new comment or a deleted one, the handler reads the post's
current counts (and the new comment, with its author's username) and publishes one
`post.activity` message on the post's live channel. Counts are read when the event is
handled, not carried in the event: a message always shows the latest state, so messages
overtaking each other or arriving twice never leave a watcher with a stale count. That is
also why no "handled" marker is kept: a re-delivered event publishes the current state
again, which changes nothing for anyone watching. The push is at most once, like every
core NATS message; a client that missed one reads the post again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from fowergram.domain.events import RecordedEvent

log = logging.getLogger(__name__)

MESSAGE_TYPE = "post.activity"
LIKE_KINDS = frozenset({"post.liked", "post.unliked"})
KINDS = LIKE_KINDS | {"comment.created", "comment.deleted"}


@dataclass(frozen=True, slots=True)
class Activity:
    """What an event says happened to a post, read from the event alone."""

    post_id: int
    actor_id: int | None  # the liker, the commenter, the deleter (None: not recorded)
    new_comment_id: int | None = None
    deleted_comment_id: int | None = None  # a top-level one takes its replies with it


@dataclass(frozen=True, slots=True)
class ActivityComment:
    id: int
    body: str
    parent_id: int | None
    created_at: datetime
    author_id: int
    author_username: str


@dataclass(frozen=True, slots=True)
class PostState:
    """A live post's counts now, and the comment asked for if it is still there."""

    post_id: int
    like_count: int
    comment_count: int
    comment: ActivityComment | None = None


class PostActivityReads(Protocol):
    async def post_state(self, post_id: int, comment_id: int | None) -> PostState | None:
        """The post's current counts, with the live comment `comment_id` of that post and
        its author (None there when not asked for, missing, deleted or its author gone);
        None when the post is missing or deleted."""
        ...


class PostChannel(Protocol):
    async def to_post(self, post_id: int, message: dict[str, Any]) -> None:
        """Push a JSON-able message to the post's live channel (at most once)."""
        ...


def _id(value: object) -> int | None:
    """A positive integer id, or None (bools are ints in Python, but never ids)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def activity_of(event: RecordedEvent) -> Activity | None:
    """The activity an event describes; None for other kinds or a payload without the ids
    it needs (nothing to publish, and retrying would not make the ids appear)."""
    payload = event.payload
    if event.kind in LIKE_KINDS:
        post_id = _id(event.aggregate_id)
        return Activity(post_id, _id(payload.get("actorId"))) if post_id else None
    post_id = _id(payload.get("postId"))
    comment_id = _id(payload.get("commentId")) or _id(event.aggregate_id)
    if post_id is None or comment_id is None:
        return None
    if event.kind == "comment.created":
        return Activity(post_id, _id(payload.get("authorId")), new_comment_id=comment_id)
    if event.kind == "comment.deleted":
        return Activity(post_id, _id(payload.get("deletedBy")), deleted_comment_id=comment_id)
    return None


def comment_to_wire(comment: ActivityComment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "body": comment.body,
        "parentId": comment.parent_id,
        "createdAt": comment.created_at.isoformat(),
        "author": {"id": comment.author_id, "username": comment.author_username},
    }


def activity_message(activity: Activity, state: PostState | None) -> dict[str, Any] | None:
    """The live message for `activity` given the post's state now; None when there is
    nothing to tell: the post is gone, or the new comment is (its deletion, handled in
    turn, publishes the counts)."""
    if state is None or state.post_id != activity.post_id:
        return None
    comment = None
    if activity.new_comment_id is not None:
        if state.comment is None or state.comment.id != activity.new_comment_id:
            return None
        comment = comment_to_wire(state.comment)
    return {
        "type": MESSAGE_TYPE,
        "postId": activity.post_id,
        "likeCount": state.like_count,
        "commentCount": state.comment_count,
        "actorId": activity.actor_id,
        "comment": comment,
        "deletedCommentId": activity.deleted_comment_id,
    }


class PostActivityPublisher:
    kinds: frozenset[str] = KINDS

    def __init__(self, *, reads: PostActivityReads, channel: PostChannel) -> None:
        self._reads = reads
        self._channel = channel

    def lane(self, event: RecordedEvent) -> int | None:
        """One lane per post: its messages go out in the order of its events."""
        activity = activity_of(event)
        return activity.post_id if activity is not None else None

    async def handle(self, event: RecordedEvent) -> None:
        activity = activity_of(event)
        if activity is None:
            if event.kind in self.kinds:
                log.warning(
                    "post activity event without the ids it needs; skipped",
                    extra={"event_id": event.id, "event_kind": event.kind},
                )
            return
        state = await self._reads.post_state(activity.post_id, activity.new_comment_id)
        message = activity_message(activity, state)
        if message is not None:
            # Nothing was written, so a failed publish is simply retried by the consumer.
            await self._channel.to_post(activity.post_id, message)
