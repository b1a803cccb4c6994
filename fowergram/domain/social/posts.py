"""Posts: the model, the store port, and the rules for writing and reading them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from fowergram.domain.events import DomainEvent
from fowergram.domain.pagination import Key, Page
from fowergram.domain.social.captions import CaptionFacts
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import Owner, Relationship

MAX_MEDIA = 10


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    author_id: int
    caption: str
    media_ids: tuple[int, ...]
    like_count: int
    comment_count: int
    created_at: datetime
    edited_at: datetime | None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class NewPost:
    author_id: int
    facts: CaptionFacts
    media_ids: tuple[int, ...]
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class PostGrid:
    """A page of one author's posts and which of them the viewer has liked (read with
    the page: the grid shows a like state on every post)."""

    page: Page[Post]
    viewer_liked: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class AuthoredPost:
    """A post with what its page shows beside it, read with it: the author's profile, the
    viewer's relationship to the author (NONE for no viewer or the author themself) and
    whether the viewer liked the post."""

    post: Post
    author: Profile
    relationship: Relationship
    viewer_liked: bool


@dataclass(frozen=True, slots=True)
class PostStanding:
    """What acting on a post (a like) needs of it, without its content: its author, its
    like count, whether it is deleted, and the author's standing for the viewer, of
    which only what content visibility reads (following, blocking, blocked_by)."""

    post_id: int
    author_id: int
    like_count: int
    deleted: bool
    owner: Owner
    relationship: Relationship


class PostStore(Protocol):
    async def create(
        self, post: NewPost, *, event: DomainEvent, idempotency_window_s: int
    ) -> tuple[Post, bool]:
        """Insert the post, its media, tags, mentions, the author's count and the event in
        one transaction; (the earlier post, False) when the idempotency key was used."""
        ...

    async def usable_media(self, author_id: int, media_ids: Sequence[int]) -> set[int]:
        """Those of `media_ids` the author owns and that are ready."""
        ...

    async def edit(
        self, post_id: int, facts: CaptionFacts, *, event: DomainEvent
    ) -> Post | None: ...

    async def delete(self, post_id: int, *, event: DomainEvent) -> bool: ...
    async def get_many_with_authors(
        self, viewer_id: int | None, post_ids: Sequence[int]
    ) -> tuple[dict[int, Post], dict[int, tuple[Owner, Relationship]]]:
        """The posts and, in the same read, each author's standing for the viewer (what
        deciding whether the viewer may see them needs)."""
        ...

    async def standing(self, viewer_id: int | None, post_id: int) -> PostStanding | None:
        """The post's standing for the viewer (deleted posts too: the rules decide)."""
        ...

    async def get_authored(self, viewer_id: int | None, post_id: int) -> AuthoredPost | None:
        """The post (deleted too: the rules decide) with its author and the viewer's like,
        in one read."""
        ...

    async def by_author(
        self, viewer_id: int | None, author_id: int, after: Key | None, size: int
    ) -> tuple[tuple[Owner, Relationship] | None, PostGrid]:
        """The author's standing for the viewer (None: no such user) and, in the same
        read, a page of their posts, newest first, with the viewer's likes among them:
        the caller decides whether to show it."""
        ...

    async def by_hashtag(self, tag: str, after: Key | None, size: int) -> Page[Post]: ...
    async def saved_by(self, user_id: int, after: Key | None, size: int) -> Page[Post]: ...
    async def save(self, user_id: int, post_id: int) -> None: ...
    async def unsave(self, user_id: int, post_id: int) -> None: ...
