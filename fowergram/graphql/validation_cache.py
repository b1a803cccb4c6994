"""Validate each parsed document once per set of rules, found by the document's identity.

Strawberry's ValidationCache keys an lru_cache on the document itself, and hashing a
graphql-core AST walks every node of it, on every request (~2% of the profile page's
CPU). Documents come from the parse cache (CachedParse), which hands out the same
DocumentNode for the same text, so the identity of the document finds its validation;
the entry keeps the document alive, so its id cannot be reused while it is cached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError, GraphQLSchema
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

Rules = tuple[type[ASTValidationRule], ...]


class ValidationResults:
    """At most `size` documents' validation errors, least recently used dropped first."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[
            tuple[int, int, Rules], tuple[DocumentNode, list[GraphQLError]]
        ] = OrderedDict()

    def errors(
        self, schema: GraphQLSchema, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        key = (id(schema), id(document), rules)
        entry = self._entries.get(key)
        if entry is not None and entry[0] is document:
            self._entries.move_to_end(key)
            return entry[1]
        errors = validate_document(schema, document, rules)
        self._entries[key] = (document, errors)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return errors

    def __len__(self) -> int:
        return len(self._entries)


class CachedValidation(SchemaExtension):
    """The validation step, through `results` (shared by every request of a schema)."""

    def __init__(self, results: ValidationResults) -> None:
        super().__init__()
        self._results = results

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.pre_execution_errors is None:
            # Set, the errors tell Strawberry that validation has run.
            context.pre_execution_errors = self._results.errors(
                context.schema._schema, document, context.validation_rules
            )
        yield
