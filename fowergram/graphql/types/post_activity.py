"""What a post's watchers see live: its counts and comments as they change.

Plain values built from the event, so one execution serves every watcher (nothing in
them depends on who is watching)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry


@strawberry.type(name="ActivityAuthor")
class ActivityAuthorType:
    id: strawberry.ID
    username: str


@strawberry.type(name="ActivityComment", description="A comment just added to the post.")
class ActivityCommentType:
    id: strawberry.ID
    body: str
    parent_id: strawberry.ID | None
    created_at: datetime
    author: ActivityAuthorType


@strawberry.type(name="PostActivity")
class PostActivityType:
    post_id: strawberry.ID
    like_count: int
    comment_count: int
    new_comment: ActivityCommentType | None
    deleted_comment_id: strawberry.ID | None

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> PostActivityType:
        """From a `post.activity` message; KeyError/TypeError/ValueError if it is not one."""
        comment = message.get("comment")
        deleted = message.get("deletedCommentId")
        return cls(
            post_id=strawberry.ID(str(int(message["postId"]))),
            like_count=int(message["likeCount"]),
            comment_count=int(message["commentCount"]),
            new_comment=None if comment is None else _comment(comment),
            deleted_comment_id=None if deleted is None else strawberry.ID(str(int(deleted))),
        )


def _comment(fields: dict[str, Any]) -> ActivityCommentType:
    parent = fields.get("parentId")
    return ActivityCommentType(
        id=strawberry.ID(str(int(fields["id"]))),
        body=str(fields["body"]),
        parent_id=None if parent is None else strawberry.ID(str(int(parent))),
        created_at=datetime.fromisoformat(fields["createdAt"]),
        author=ActivityAuthorType(
            id=strawberry.ID(str(int(fields["author"]["id"]))),
            username=str(fields["author"]["username"]),
        ),
    )
