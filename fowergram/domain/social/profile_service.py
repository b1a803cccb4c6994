"""Reading profiles through the visibility rules."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fowergram.domain.errors import NotFound
from fowergram.domain.social.ports import Relationships
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import NONE, can_see_profile


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

    async def by_username(self, viewer_id: int | None, username: str) -> Profile:
        profile = await self._store.get_by_username(username.strip())
        if profile is None or not (await self.visible(viewer_id, [profile.id])):
            raise NotFound("no such user")  # the same whether missing, deleted or blocked
        return profile
