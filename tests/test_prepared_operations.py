"""A document already parsed and validated runs without Strawberry's extension hooks, and
answers exactly as Strawberry's path does: the same data, the same shaped errors, the same
refusals."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any, cast

import pytest
import strawberry
from strawberry.types.graphql import OperationType

from fowergram.adapters.clock import SystemClock
from fowergram.domain.server_info import ServerInfoService
from fowergram.graphql.context import Context
from fowergram.graphql.schema import FowergramSchema, build_schema

LIMITS = {"max_depth": 6, "max_tokens": 200, "max_aliases": 5, "introspection": False}
QUERIES = {OperationType.QUERY}
QUERIES_AND_MUTATIONS = {OperationType.QUERY, OperationType.MUTATION}
TWO_OPERATIONS = "query A { serverInfo { name } } query B { serverInfo { version } }"
USER = "query U($u: String!) { user(username: $u) { id } }"

CASES: list[tuple[str, str, dict[str, Any] | None, str | None]] = [
    ("plain query", "{ serverInfo { name version environment } }", None, None),
    ("named operation", TWO_OPERATIONS, None, "B"),
    ("first operation by default", TWO_OPERATIONS, None, None),
    ("unknown operation", TWO_OPERATIONS, None, "C"),
    ("variable of the wrong type", USER, {"u": 5}, None),
    ("missing variable", USER, {}, None),
    ("unauthenticated", "{ me { id } }", None, None),
    ("unexpected error, masked", USER, {"u": "ana"}, None),
    ("syntax error", "{ serverInfo {", None, None),
    ("unknown field", "{ nope }", None, None),
    ("too deep", "{ me { user { posts { edges { node { author { id } } } } } } }", None, None),
    ("too many tokens", "{ " + "serverInfo { name } " * 60 + "}", None, None),
    ("introspection off", "{ __schema { types { name } } }", None, None),
    ("hostile unicode", "{ serverInfo { name } } # \u202e\u0000\ud7ff", None, None),
]


def _schema(*, prepared: bool) -> FowergramSchema:
    schema = build_schema(**LIMITS)  # type: ignore[arg-type]
    if not prepared:
        schema.prepared = None
    return schema


FAST, PLAIN = _schema(prepared=True), _schema(prepared=False)


def _context() -> Context:
    # Only serverInfo's service: anything else a resolver reaches for is an unexpected error.
    services = SimpleNamespace(
        server_info=ServerInfoService(
            name="fowergram", version="1.0.0", environment="test", clock=SystemClock()
        )
    )
    return Context(request=None, services=cast(Any, services))


def _answer(result: Any) -> dict[str, Any]:
    errors = [error.formatted for error in result.errors or ()]
    for error in errors:  # a masked error's id is new each time
        error["message"] = re.sub(r"error id \w+", "error id …", error["message"])
        if "errorId" in error.get("extensions", {}):
            error["extensions"]["errorId"] = "…"
    return {"data": result.data, "errors": errors, "extensions": result.extensions}


async def _execute(
    schema: FowergramSchema,
    query: str,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    allowed: set[OperationType],
) -> dict[str, Any]:
    try:
        result = await schema.execute(
            query,
            variable_values=variables,
            context_value=_context(),
            operation_name=operation_name,
            allowed_operation_types=allowed,
        )
    except Exception as exc:  # the views turn these into 400s
        return {"raised": f"{type(exc).__name__}: {exc}"}
    return _answer(result)


@pytest.fixture
def strawberry_paths(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The queries that went Strawberry's way (through its `execute`)."""
    seen: list[str | None] = []
    original = strawberry.Schema.execute

    async def counting(self: strawberry.Schema, query: str | None, *args: Any, **kw: Any) -> Any:
        seen.append(query)
        return await original(self, query, *args, **kw)

    monkeypatch.setattr(strawberry.Schema, "execute", counting)
    return seen


@pytest.mark.parametrize(("case", "query", "variables", "operation_name"), CASES)
async def test_answers_as_strawberry_does(
    case: str, query: str, variables: dict[str, Any] | None, operation_name: str | None
) -> None:
    expected = await _execute(PLAIN, query, variables, operation_name, QUERIES_AND_MUTATIONS)
    for _ in range(2):  # the first sight of a document prepares it; the second uses it
        actual = await _execute(FAST, query, variables, operation_name, QUERIES_AND_MUTATIONS)
        assert actual == expected, case


async def test_a_prepared_document_skips_strawberrys_path(
    strawberry_paths: list[str | None],
) -> None:
    query = "query Info { serverInfo { version } }"
    schema = _schema(prepared=True)
    first = await _execute(schema, query, None, None, QUERIES)
    second = await _execute(schema, query, None, None, QUERIES)
    assert (
        first
        == second
        == {
            "data": {"serverInfo": {"version": "1.0.0"}},
            "errors": [],
            "extensions": {},
        }
    )
    assert strawberry_paths == []
    assert schema.prepared is not None
    assert len(schema.prepared) == 1
    # A document with errors is never prepared: each time, Strawberry reports them.
    for _ in range(2):
        answer = await _execute(schema, "{ nope }", None, None, QUERIES)
        assert answer["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert strawberry_paths == ["{ nope }", "{ nope }"]
    assert len(schema.prepared) == 1


@pytest.mark.parametrize(
    ("query", "allowed", "refusal"),
    [
        (
            'mutation { follow(userId: "1") { following } }',
            QUERIES,
            "InvalidOperationTypeError: OperationType.MUTATION",
        ),
        ("subscription { ticks(count: 1) }", QUERIES_AND_MUTATIONS, "OperationType.SUBSCRIPTION"),
    ],
)
async def test_an_operation_type_not_allowed_is_refused_every_time(
    query: str, allowed: set[OperationType], refusal: str, strawberry_paths: list[str | None]
) -> None:
    for _ in range(2):
        answer = await _execute(FAST, query, None, None, allowed)
        assert refusal in answer["raised"]
    assert strawberry_paths == [query, query]


def test_prepared_documents_are_bounded() -> None:
    schema = _schema(prepared=True)
    prepared = schema.prepared
    assert prepared is not None
    prepared._size = 2
    for version in ("name", "version", "environment"):
        assert prepared.get(f"{{ serverInfo {{ {version} }} }}", None, QUERIES) is not None
    assert len(prepared) == 2
    # Not allowed here (a mutation over GET) is not prepared for this request.
    assert prepared.get('mutation { follow(userId: "1") { following } }', None, QUERIES) is None
