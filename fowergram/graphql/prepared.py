"""Operations already parsed and validated, executed without Strawberry's extension hooks.

Strawberry runs every request through its extension machinery: the schema's extension
objects made anew, a context manager per hook and stage, an execution context and a
middleware manager, ~0.1 ms of the 0.58 ms a request for `me { id }` costs. For a
document already seen (clients send the same few), what those hooks decide is known: the
parsed document (CachedParse, with the token limit), no validation errors
(CachedValidation, with the schema's rules) and the operation to run. Such a request is
executed by graphql-core at once and its errors shaped as ShapeErrors shapes them.
Anything else (a document not yet prepared, a syntax or validation error, no such
operation, an operation type not allowed here) takes Strawberry's path, which reports it
as it always did and prepares the document for the next time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

from graphql import DocumentNode, GraphQLError, GraphQLSchema, OperationDefinitionNode
from graphql.validation import ASTValidationRule
from strawberry.types.graphql import OperationType

from fowergram.graphql.parse_cache import ParseOptions, parse_cached
from fowergram.graphql.validation_cache import ValidationResults


class PreparedOperation(NamedTuple):
    document: DocumentNode
    operation_type: OperationType
    # As Strawberry picks it: the one asked for, else the first operation's own name.
    operation_name: str | None


class PreparedOperations:
    """Up to `size` (document, operation name) pairs known to execute as they stand."""

    def __init__(
        self,
        schema: GraphQLSchema,
        *,
        rules: Sequence[type[ASTValidationRule]],
        parse_options: dict[str, Any],
        validations: ValidationResults,
        size: int,
    ) -> None:
        self._schema = schema
        self._rules = tuple(rules)
        self._parse_options: ParseOptions = frozenset(parse_options.items())
        self._validations = validations
        self._size = size
        self._prepared: OrderedDict[tuple[str, str | None], PreparedOperation] = OrderedDict()

    def get(
        self, query: str | None, operation_name: str | None, allowed: Collection[OperationType]
    ) -> PreparedOperation | None:
        """The prepared operation if it may run here, else None (Strawberry's path)."""
        if not isinstance(query, str) or not isinstance(operation_name, str | None):
            return None  # no document, or a name no operation has: Strawberry says so
        key = (query, operation_name)
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepare(query, operation_name)
            if prepared is None:
                return None
            self._prepared[key] = prepared
            if len(self._prepared) > self._size:
                self._prepared.popitem(last=False)
        else:
            self._prepared.move_to_end(key)
        return prepared if prepared.operation_type in allowed else None

    def __len__(self) -> int:
        return len(self._prepared)

    def _prepare(self, query: str, operation_name: str | None) -> PreparedOperation | None:
        try:
            document = parse_cached(query, self._parse_options)
        except (GraphQLError, TypeError):
            return None
        operation = _operation(document, operation_name)
        if operation is None:
            return None
        if self._validations.errors(self._schema, document, self._rules):
            return None
        name = operation_name if operation_name is not None else _name(operation)
        return PreparedOperation(document, OperationType(operation.operation.value), name)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    # Strawberry's choice (strawberry.utils.operation): by name, else the first one.
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def _name(operation: OperationDefinitionNode) -> str | None:
    return operation.name.value if operation.name else None
