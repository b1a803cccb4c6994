"""The request's DataLoaders: each relation is fetched once per request, in one batch."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from fowergram.domain.social.profiles import Profile
from fowergram.graphql.context import Context


def users(context: Context) -> DataLoader[int, Profile | None]:
    """Profiles the viewer may see; None for hidden (blocked, deleted) or unknown ids."""
    viewer_id = context.viewer.user_id if context.viewer else None

    async def load(ids: Sequence[int]) -> list[Profile | None]:
        found = await context.services.profiles.visible(viewer_id, ids)
        return [found.get(user_id) for user_id in ids]

    return context.loader("users", lambda: DataLoader(load_fn=load))
