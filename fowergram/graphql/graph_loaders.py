"""DataLoaders of the social graph: one batched read per request for every relationship."""

from __future__ import annotations

from collections.abc import Sequence

from strawberry.dataloader import DataLoader

from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import Relationship
from fowergram.graphql.context import Context
from fowergram.graphql.loaders import users


def relationships(context: Context) -> DataLoader[int, Relationship] | None:
    """The viewer's relationship to each person (yourself: all false); None when signed out."""
    viewer = context.viewer
    if viewer is None:
        return None

    graph = context.services.graph

    async def load(ids: Sequence[int]) -> list[Relationship]:
        return await graph.relationships(viewer.user_id, ids)

    return context.loader("relationships", lambda: DataLoader(load_fn=load))


def known_person(
    context: Context, profile: Profile, relationship: Relationship | None
) -> Relationship | None:
    """Tell the request's loaders of a person a read found with the viewer's relationship
    to them (a page's later reads, e.g. commenters or post authors, then need no batch),
    and return that relationship as the viewer may have it: None when signed out."""
    users(context).prime(profile.id, profile)
    viewer_relationships = relationships(context)
    if viewer_relationships is None or relationship is None:
        return None
    viewer_relationships.prime(profile.id, relationship)
    return relationship
