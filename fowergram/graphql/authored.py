"""What posts and comments share when they become GraphQL nodes: their authors and the
viewer's likes, loaded for a whole page in two batches (no awaitable per item)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Protocol

from strawberry.dataloader import DataLoader

from fowergram.graphql import loaders
from fowergram.graphql.context import Context

if TYPE_CHECKING:
    from fowergram.graphql.types.user import UserType


class Authored(Protocol):
    @property
    def id(self) -> int: ...

    @property
    def author_id(self) -> int: ...


async def authors_and_likes(
    context: Context, items: Sequence[Authored], likes: DataLoader[int, bool] | Collection[int]
) -> list[tuple[UserType | None, bool]]:
    """For each item, its author (None if hidden) and whether the viewer liked it: `likes`
    loads that, or names the items the viewer liked when the items' own read said."""
    from fowergram.graphql.types.user import UserType

    # A page's items often share authors (a profile's grid has one): each is loaded and
    # made a GraphQL user once.
    author_ids = list(dict.fromkeys(item.author_id for item in items))
    authors = loaders.users(context).load_many(author_ids)
    if isinstance(likes, DataLoader):
        profiles, liked = await asyncio.gather(authors, likes.load_many([i.id for i in items]))
    else:
        profiles, liked = await authors, [item.id in likes for item in items]
    users = {
        author_id: UserType.from_domain(profile) if profile else None
        for author_id, profile in zip(author_ids, profiles, strict=True)
    }
    return [
        (users[item.author_id], has_liked) for item, has_liked in zip(items, liked, strict=True)
    ]
