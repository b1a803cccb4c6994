"""Relay-style connections: `edges { cursor node }`, `pageInfo { hasNextPage endCursor }`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import strawberry

from fowergram.domain.pagination import Key, Page, encode_cursor

Node = TypeVar("Node")
Item = TypeVar("Item")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[Node]):
    @strawberry.field
    def cursor(self) -> str:
        # Encoded only when asked for: pages often want just `pageInfo.endCursor`.
        return encode_cursor(self.key)

    node: Node
    key: strawberry.Private[Key]


@strawberry.type
class Connection(Generic[Node]):
    edges: list[Edge[Node]]
    page_info: PageInfo

    @classmethod
    def with_nodes(cls, page: Page[Item], nodes: Sequence[Node]) -> Connection[Node]:
        """The page's cursors with nodes built already (in one batch, by the caller)."""
        edges = [Edge(node=node, key=key) for key, node in zip(page.keys, nodes, strict=True)]
        return cls(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
        )

    @classmethod
    def from_page(cls, page: Page[Item], to_node: Callable[[Item], Node]) -> Connection[Node]:
        edges = [
            Edge(node=to_node(item), key=key)
            for key, item in zip(page.keys, page.items, strict=True)
        ]
        return cls(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
        )
