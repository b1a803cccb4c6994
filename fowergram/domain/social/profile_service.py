"""Reading profiles through the visibility rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fowergram.domain.auth.identity import USERNAME_MAX
from fowergram.domain.errors import NotFound
from fowergram.domain.social.posts import PostGrid
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import Relationship, can_see_content, can_see_profile


class ProfileStore(Protocol):
    async def get_many(
        self, viewer_id: int | None, user_ids: Sequence[int]
    ) -> dict[int, tuple[Profile, Relationship]]:
        """The accounts among `user_ids` (deleted ones too: the rules decide) and, in the
        same read, the viewer's relationship to each (NONE for no viewer or themself)."""
        ...

    async def get_by_username(
        self, viewer_id: int | None, username: str
    ) -> tuple[Profile, Relationship] | None:
        """The live account of that username (any case) and, in the same read, the
        viewer's relationship to it (NONE for no viewer or the viewer themself)."""
        ...

    async def get_with_grid(
        self, viewer_id: int | None, username: str, size: int
    ) -> tuple[Profile, Relationship, PostGrid] | None:
        """As `get_by_username`, with the first page (`size`) of the account's posts,
        newest first, and which of them the viewer liked, in the same read."""
        ...


@dataclass(frozen=True, slots=True)
class ProfileWithGrid:
    """A profile, the viewer's relationship to it and its posts' first page, read at once
    (a profile page asks for all three)."""

    profile: Profile
    relationship: Relationship | None  # None when signed out
    grid: PostGrid | None  # None when the viewer may not see the account's posts

    def posts(self) -> PostGrid:
        """The first page, or NOT_FOUND as PostService.by_author says it."""
        if self.grid is None:
            raise NotFound("no such user")
        return self.grid


class ProfileService:
    def __init__(self, *, store: ProfileStore) -> None:
        self._store = store

    async def visible(self, viewer_id: int | None, user_ids: Sequence[int]) -> dict[int, Profile]:
        """The profiles among `user_ids` the viewer may see (blocked and deleted are left out)."""
        found = await self._store.get_many(viewer_id, user_ids)
        return {
            user_id: profile
            for user_id, (profile, relation) in found.items()
            if can_see_profile(viewer_id, profile.owner, relation)
        }

    async def by_username(
        self, viewer_id: int | None, username: str
    ) -> tuple[Profile, Relationship | None]:
        """The profile and the viewer's relationship to it (None when signed out), read
        once here so the page built on them needs neither again."""
        name = _possible_username(username)
        found = None if name is None else await self._store.get_by_username(viewer_id, name)
        if found is None or not can_see_profile(viewer_id, found[0].owner, found[1]):
            raise NotFound("no such user")  # the same whether missing, deleted or blocked
        profile, relation = found
        return profile, relation if viewer_id else None

    async def with_grid(self, viewer_id: int | None, username: str, size: int) -> ProfileWithGrid:
        """`by_username`, with the first `size` posts of the account if the viewer may see
        them (the same rules as `PostService.by_author`)."""
        name = _possible_username(username)
        found = None if name is None else await self._store.get_with_grid(viewer_id, name, size)
        if found is None or not can_see_profile(viewer_id, found[0].owner, found[1]):
            raise NotFound("no such user")
        profile, relation, grid = found
        shown = grid if can_see_content(viewer_id, profile.owner, relation) else None
        return ProfileWithGrid(profile, relation if viewer_id else None, shown)


def _possible_username(typed: str) -> str | None:
    """What was typed, trimmed, or None when no account can have it: longer than any
    username, or holding a NUL (which PostgreSQL refuses in text: not a server error)."""
    name = typed.strip()
    if len(name) > USERNAME_MAX or "\x00" in name:
        return None
    return name
