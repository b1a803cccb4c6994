"""Reading profiles through the visibility rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fowergram.domain.errors import NotFound
from fowergram.domain.social.ports import Relationships
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import NONE, Relationship, can_see_profile


class ProfileStore(Protocol):
    async def get_many(self, user_ids: Sequence[int]) -> dict[int, Profile]: ...
    async def get_by_username(self, username: str) -> Profile | None: ...


class ProfileService:
    def __init__(self, *, store: ProfileStore, relationships: Relationships) -> None:
        self._store = store
        self._relationships = relationships

    async def visible(self, viewer_id: int | None, user_ids: Sequence[int]) -> dict[int, Profile]:
        """The profiles among `user_ids` the viewer may see (blocked and deleted are left out)."""
        profiles = await self._store.get_many(user_ids)
        relations = (
            await self._relationships.between(viewer_id, list(profiles)) if viewer_id else {}
        )
        return {
            user_id: profile
            for user_id, profile in profiles.items()
            if can_see_profile(viewer_id, profile.owner, relations.get(user_id, NONE))
        }

    async def by_username(
        self, viewer_id: int | None, username: str
    ) -> tuple[Profile, Relationship | None]:
        """The profile and the viewer's relationship to it (None when signed out), read
        once here so the page built on them needs neither again."""
        profile = await self._store.get_by_username(username.strip())
        if profile is None:
            raise NotFound("no such user")
        relation = (
            (await self._relationships.between(viewer_id, [profile.id])).get(profile.id, NONE)
            if viewer_id
            else None
        )
        if not can_see_profile(viewer_id, profile.owner, relation or NONE):
            raise NotFound("no such user")  # the same whether missing, deleted or blocked
        return profile, relation
