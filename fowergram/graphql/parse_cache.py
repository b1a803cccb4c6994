"""Parse each distinct document once: clients send the same few documents again and again.

Strawberry's ParserCache raises syntax errors from its parse hook, where they escape the
error shaping; this one caches only successful parses and leaves failures to Strawberry's
own parse, which reports them the usual way.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, GraphQLError, parse
from strawberry.extensions import SchemaExtension

CACHED_DOCUMENTS = 1024


ParseOptions = frozenset[tuple[str, Any]]


@lru_cache(maxsize=CACHED_DOCUMENTS)
def parse_cached(query: str, options: ParseOptions) -> DocumentNode:
    """The document of `query` parsed with `options` (the same object for the same text)."""
    return parse(query, **dict(options))


class CachedParse(SchemaExtension):
    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query is not None and context.graphql_document is None:
            try:
                options = frozenset(context.parse_options.items())
                context.graphql_document = parse_cached(context.query, options)
            except (GraphQLError, TypeError):
                pass  # Strawberry parses it again and reports the error as usual
        yield
