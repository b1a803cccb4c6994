"""What posts and comments share when they become GraphQL nodes: their authors and the
viewer's likes, loaded for a whole page in two batches (no awaitable per item)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
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
    context: Context, items: Sequence[Authored], liked: DataLoader[int, bool]
) -> list[tuple[UserType | None, bool]]:
    """For each item, its author (None if hidden) and whether the viewer liked it."""
    from fowergram.graphql.types.user import UserType

    profiles, likes = await asyncio.gather(
        loaders.users(context).load_many([item.author_id for item in items]),
        liked.load_many([item.id for item in items]),
    )
    return [
        (UserType.from_domain(profile) if profile else None, has_liked)
        for profile, has_liked in zip(profiles, likes, strict=True)
    ]
