"""Validation is cached by the document's identity: the parse cache hands out the same
DocumentNode for the same text, and hashing an AST (as an lru_cache on it does) walks
every node of it on every request."""

from __future__ import annotations

import pytest
from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse, specified_rules
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.schema.schema import validate_document

from fowergram.graphql import validation_cache
from fowergram.graphql.schema import build_schema
from fowergram.graphql.validation_cache import Rules, ValidationResults

SCHEMA = build_schema(max_depth=10, max_tokens=1000, max_aliases=15, introspection=False)
GOOD = "query($u: String!) { user(username: $u) { id username } }"
BAD = "{ user(username: 1) { nope } }"


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[DocumentNode]:
    seen: list[DocumentNode] = []
    real = validate_document  # what validation_cache imports and calls

    def counting(schema: GraphQLSchema, document: DocumentNode, rules: Rules) -> list[GraphQLError]:
        seen.append(document)
        return real(schema, document, rules)

    monkeypatch.setattr(validation_cache, "validate_document", counting)
    return seen


def test_a_document_is_validated_once_per_rules(validations: list[DocumentNode]) -> None:
    results = ValidationResults(8)
    schema = SCHEMA._schema
    good, bad = parse(GOOD), parse(BAD)
    rules: Rules = tuple(specified_rules)
    stricter: Rules = (*rules, NoSchemaIntrospectionCustomRule)
    assert results.errors(schema, good, rules) == []
    assert results.errors(schema, good, rules) == []
    first = results.errors(schema, bad, rules)
    assert "Cannot query field 'nope' on type 'User'." in {error.message for error in first}
    assert results.errors(schema, bad, rules) is first
    assert validations == [good, bad]
    # Other rules are another validation; an equal document that is another object too
    # (it did not come from the parse cache).
    assert results.errors(schema, good, stricter) == []
    assert results.errors(schema, parse(GOOD), rules) == []
    assert len(validations) == 4


def test_the_least_recently_used_document_is_dropped(validations: list[DocumentNode]) -> None:
    results = ValidationResults(2)
    schema = SCHEMA._schema
    one, two, three = parse("{ serverInfo { version } }"), parse(GOOD), parse(BAD)
    results.errors(schema, one, ())
    results.errors(schema, two, ())
    results.errors(schema, one, ())  # used again: two is now the oldest
    results.errors(schema, three, ())
    assert len(results) == 2
    results.errors(schema, one, ())
    assert validations == [one, two, three]
    results.errors(schema, two, ())
    assert validations == [one, two, three, two]


async def test_the_schema_validates_a_repeated_document_once(
    validations: list[DocumentNode],
) -> None:
    for _ in range(3):
        result = await SCHEMA.execute(BAD)
        assert result.errors
        assert "Cannot query field 'nope'" in " ".join(e.message for e in result.errors)
    assert len(validations) == 1
    # The schema's own rules run too: introspection is off here.
    result = await SCHEMA.execute("{ __schema { queryType { name } } }")
    assert result.errors
    assert "introspection" in result.errors[0].message.lower()
