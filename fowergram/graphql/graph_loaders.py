"""DataLoaders of the social graph: one batched read per request for every relationship."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from fowergram.domain.social.relationship import Relationship
from fowergram.graphql.context import Context


def relationships(context: Context) -> DataLoader[int, Relationship] | None:
    """The viewer's relationship to each person (yourself: all false); None when signed out."""
    viewer = context.viewer
    if viewer is None:
        return None

    async def load(ids: Sequence[int]) -> list[Relationship]:
        return await context.services.graph.relationships(viewer.user_id, ids)

    return context.loader("relationships", lambda: DataLoader(load_fn=load))
