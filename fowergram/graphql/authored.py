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
    context: Context,
    items: Sequence[Authored],
    liked: DataLoader[int, bool],
    known_likes: Collection[int] | None = None,
) -> list[tuple[UserType | None, bool]]:
    """For each item, its author (None if hidden) and whether the viewer liked it;
    `known_likes`: the items the viewer liked, when the read of the items said (no load)."""
    from fowergram.graphql.types.user import UserType

    authors = loaders.users(context).load_many([item.author_id for item in items])
    if known_likes is None:
        profiles, likes = await asyncio.gather(
            authors, liked.load_many([item.id for item in items])
        )
    else:
        profiles, likes = await authors, [item.id in known_likes for item in items]
    return [
        (UserType.from_domain(profile) if profile else None, has_liked)
        for profile, has_liked in zip(profiles, likes, strict=True)
    ]
