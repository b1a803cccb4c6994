"""Comments: the model, the store port, and the pure rules for writing them.

Threads are one level deep: a reply hangs off a top-level comment, and replying to a
reply attaches the new comment to that reply's top-level parent (as Instagram does;
the schema's `comments_check_parent()` trigger refuses anything deeper).

Counting: `posts.comment_count` counts every live comment of the post, top-level and
replies alike; a top-level comment's `reply_count` counts its live replies. Deleting a
top-level comment soft-deletes its live replies with it, and the post's count drops by
one plus those replies, so both counters always equal a count of live rows.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from fowergram.domain.errors import BadUserInput
from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page
from fowergram.domain.social.captions import clean_caption
from fowergram.domain.social.relationship import Owner, Relationship

BODY_MAX = 2200  # as a caption, and the schema's comments_body_length


class CommentOrder(StrEnum):
    NEWEST = "NEWEST"
    OLDEST = "OLDEST"


@dataclass(frozen=True, slots=True)
class Comment:
    id: int
    post_id: int
    post_author_id: int
    author_id: int
    parent_id: int | None  # None: a top-level comment
    body: str
    like_count: int
    reply_count: int
    created_at: datetime
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class NewComment:
    post_id: int
    author_id: int
    parent_id: int | None  # always a top-level comment of the same post (see thread_parent)
    body: str


@dataclass(frozen=True, slots=True)
class CommentThread:
    """A page of a post's comments and what showing them needs: each author's standing
    for the viewer (visibility) and which of them the viewer has liked."""

    page: Page[Comment]
    authors: Mapping[int, tuple[Owner, Relationship]] = field(default_factory=dict)
    viewer_liked: frozenset[int] = frozenset()


class CommentStore(Protocol):
    async def add(self, comment: NewComment, *, event: DomainEvent) -> Comment | None:
        """Insert the comment, bump the post's and the parent's counters and record the
        event (its aggregate id and payload's commentId filled in) in one transaction.
        None, with nothing written, if the post or the parent is gone by then."""
        ...

    async def delete(self, comment: Comment, *, event: DomainEvent) -> bool:
        """Soft-delete the comment (and, if top-level, its live replies), decrement the
        counters and record the event; False if it was already gone."""
        ...

    async def get_many(self, comment_ids: Sequence[int]) -> dict[int, Comment]:
        """Comments by id, deleted ones included (flagged); unknown ids are left out."""
        ...

    async def by_post(
        self,
        viewer_id: int | None,
        post_id: int,
        order: CommentOrder,
        after: Key | None,
        size: int,
    ) -> CommentThread:
        """Live top-level comments of a post, keyset on id, with their authors' standing
        for the viewer and the viewer's likes among them, in one read."""
        ...

    async def replies(self, parent_id: int, after: Key | None, size: int) -> Page[Comment]:
        """Live replies of a comment, oldest first, keyset on id."""
        ...

    async def like(self, user_id: int, comment_id: int, *, event: DomainEvent) -> int | None:
        """Add the like (once) and return the comment's like count; None if it is gone."""
        ...

    async def unlike(self, user_id: int, comment_id: int, *, event: DomainEvent) -> int | None: ...
    async def liked(self, user_id: int, comment_ids: Sequence[int]) -> set[int]: ...


def clean_body(raw: str) -> str:
    """A comment's text: NFC, stripped, 1 to 2,200 characters, the caption's character rules
    (no control, bidi-override or unassigned characters; newlines, tabs and emoji joiners
    are fine). BAD_USER_INPUT on `body` otherwise."""
    text = unicodedata.normalize("NFC", raw).strip()
    if not text:
        raise BadUserInput("a comment cannot be empty", field="body")
    if len(text) > BODY_MAX:
        raise BadUserInput(f"comments have at most {BODY_MAX} characters", field="body")
    try:
        return clean_caption(text)  # only its character rule can fail now
    except BadUserInput as error:
        raise BadUserInput(error.message.replace("caption", "comment"), field="body") from None


def thread_parent(parent: Comment, post_id: int) -> int:
    """The top-level comment a reply to `parent` hangs off (one level of replies)."""
    if parent.post_id != post_id:
        raise BadUserInput("the parent comment belongs to another post", field="parentId")
    return parent.parent_id if parent.parent_id is not None else parent.id


def may_delete(viewer_id: int, comment: Comment) -> bool:
    """A comment's author, and the owner of the post it is on, may delete it."""
    return viewer_id in (comment.author_id, comment.post_author_id)
