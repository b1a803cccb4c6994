"""Live post activity without I/O: what an event says happened, the message built from
it and the post's state now, and the publisher skipping events it cannot use."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from fowergram.domain.events import RecordedEvent
from fowergram.domain.social.post_activity import (
    Activity,
    ActivityComment,
    PostActivityPublisher,
    PostState,
    activity_message,
    activity_of,
)

WHEN = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _recorded(kind: str, aggregate_id: int | None, **payload: Any) -> RecordedEvent:
    return RecordedEvent(7, kind, aggregate_id, payload, WHEN)


def test_events_say_which_post_who_and_which_comment() -> None:
    assert activity_of(_recorded("post.liked", 5, actorId=2, authorId=3)) == Activity(5, 2)
    assert activity_of(_recorded("post.unliked", 5, actorId=2, authorId=3)) == Activity(5, 2)
    created = _recorded(
        "comment.created", 40, postId=5, commentId=40, authorId=2, postAuthorId=3, parentId=None
    )
    assert activity_of(created) == Activity(5, 2, new_comment_id=40)
    deleted = _recorded(
        "comment.deleted", 40, postId=5, commentId=40, authorId=2, postAuthorId=3, deletedBy=3
    )
    assert activity_of(deleted) == Activity(5, 3, deleted_comment_id=40)
    # The actor may be missing (older payloads): the message then says null.
    assert activity_of(_recorded("post.liked", 5)) == Activity(5, None)


@pytest.mark.parametrize(
    "event",
    [
        _recorded("post.liked", None, actorId=2),
        _recorded("post.liked", 0, actorId=2),
        _recorded("comment.created", 40, commentId=40, authorId=2),  # no postId
        _recorded("comment.created", None, postId=5, commentId=None, authorId=2),
        _recorded("comment.deleted", 40, postId="5", commentId=40, deletedBy=2),
        _recorded("comment.deleted", 40, postId=True, commentId=40, deletedBy=2),
        _recorded("comment.deleted", None, postId=5, commentId=-1, deletedBy=2),
        _recorded("post.deleted", 5, authorId=2),  # not a kind it handles
        _recorded("comment.liked", 40, actorId=2, postId=5),
    ],
)
def test_events_without_the_ids_they_need_describe_nothing(event: RecordedEvent) -> None:
    assert activity_of(event) is None


def test_a_like_message_carries_the_counts_now() -> None:
    message = activity_message(Activity(5, 2), PostState(5, like_count=3, comment_count=9))
    assert message == {
        "type": "post.activity",
        "postId": 5,
        "likeCount": 3,
        "commentCount": 9,
        "actorId": 2,
        "comment": None,
        "deletedCommentId": None,
    }
    assert orjson.loads(orjson.dumps(message)) == message  # JSON-able as it is


def test_a_new_comment_message_carries_the_comment_and_its_author() -> None:
    comment = ActivityComment(40, "nice", 39, WHEN, author_id=2, author_username="bo")
    message = activity_message(Activity(5, 2, new_comment_id=40), PostState(5, 0, 2, comment))
    assert message is not None
    assert (message["commentCount"], message["actorId"], message["deletedCommentId"]) == (
        2,
        2,
        None,
    )
    assert message["comment"] == {
        "id": 40,
        "body": "nice",
        "parentId": 39,
        "createdAt": "2024-05-01T12:30:00+00:00",
        "author": {"id": 2, "username": "bo"},
    }


def test_a_deletion_message_names_the_deleted_comment() -> None:
    message = activity_message(Activity(5, 3, deleted_comment_id=40), PostState(5, 1, 0))
    assert message is not None
    assert (message["deletedCommentId"], message["comment"], message["actorId"]) == (40, None, 3)


def test_nothing_to_tell_when_the_post_or_the_new_comment_is_gone() -> None:
    comment = ActivityComment(41, "other", None, WHEN, author_id=2, author_username="bo")
    assert activity_message(Activity(5, 2), None) is None
    assert activity_message(Activity(5, 2, deleted_comment_id=40), None) is None
    assert activity_message(Activity(5, 2, new_comment_id=40), PostState(5, 0, 1)) is None
    # A state about another comment or another post is not this activity's.
    assert activity_message(Activity(5, 2, new_comment_id=40), PostState(5, 0, 1, comment)) is None
    assert activity_message(Activity(5, 2), PostState(6, 1, 1)) is None


class _Reads:
    def __init__(self) -> None:
        self.asked: list[tuple[int, int | None]] = []

    async def post_state(self, post_id: int, comment_id: int | None) -> PostState | None:
        self.asked.append((post_id, comment_id))
        return PostState(post_id, 1, 0)


class _Channel:
    def __init__(self) -> None:
        self.sent: list[tuple[int, dict[str, Any]]] = []

    async def to_post(self, post_id: int, message: dict[str, Any]) -> None:
        self.sent.append((post_id, message))


async def test_an_event_without_ids_is_skipped_without_a_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reads, channel = _Reads(), _Channel()
    publisher = PostActivityPublisher(reads=reads, channel=channel)
    assert publisher.kinds == {"post.liked", "post.unliked", "comment.created", "comment.deleted"}
    await publisher.handle(_recorded("comment.created", None, authorId=2))
    await publisher.handle(_recorded("user.followed", 2, actorId=1, targetId=2))
    assert (reads.asked, channel.sent) == ([], [])
    ours = [r for r in caplog.records if r.name == "fowergram.domain.social.post_activity"]
    # Only the malformed event of a kind it handles is worth a warning.
    assert [r.getMessage() for r in ours] == [
        "post activity event without the ids it needs; skipped"
    ]
    await publisher.handle(_recorded("post.liked", 5, actorId=2))
    assert reads.asked == [(5, None)]
    assert [post_id for post_id, _ in channel.sent] == [5]
