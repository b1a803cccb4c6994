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
    # A plain field, encoded up front (~0.5 µs): a resolver would cost far more per edge,
    # and keep the page's edges off the lean executor's compiled path.
    cursor: str
    node: Node

    @classmethod
    def at(cls, key: Key, node: Node) -> Edge[Node]:
        return cls(cursor=encode_cursor(key), node=node)


@strawberry.type
class Connection(Generic[Node]):
    edges: list[Edge[Node]]
    page_info: PageInfo

    @classmethod
    def with_nodes(cls, page: Page[Item], nodes: Sequence[Node]) -> Connection[Node]:
        """The page's cursors with nodes built already (in one batch, by the caller)."""
        edges = [Edge.at(key, node) for key, node in zip(page.keys, nodes, strict=True)]
        return cls(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
        )

    @classmethod
    def from_page(cls, page: Page[Item], to_node: Callable[[Item], Node]) -> Connection[Node]:
        edges = [
            Edge.at(key, to_node(item)) for key, item in zip(page.keys, page.items, strict=True)
        ]
        return cls(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor)
        )
