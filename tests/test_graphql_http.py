"""GraphQL over HTTP through a real server: queries, limits and bad input."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from graphql import get_introspection_query
from support.live_server import LiveServer

from fowergram.graphql.depth_limit import max_depth_rule

SERVER_INFO = "{ serverInfo { name version environment time } }"


@pytest.fixture
def client(live_server: LiveServer) -> httpx.Client:
    return httpx.Client(base_url=live_server.http_url, timeout=10)


def test_query_over_post(client: httpx.Client) -> None:
    response = client.post("/graphql", json={"query": SERVER_INFO})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    info = response.json()["data"]["serverInfo"]
    assert (info["name"], info["version"], info["environment"]) == (
        "fowergram-backend",
        "1.0.0",
        "development",
    )
    served_at = datetime.fromisoformat(info["time"])
    assert abs((datetime.now(UTC) - served_at).total_seconds()) < 60


def test_query_over_get(client: httpx.Client) -> None:
    response = client.get("/graphql", params={"query": "{ serverInfo { version } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"serverInfo": {"version": "1.0.0"}}}


def test_variables_and_operation_name(client: httpx.Client) -> None:
    document = "query A { serverInfo { name } } query B { serverInfo { version } }"
    response = client.post("/graphql", json={"query": document, "operationName": "B"})
    assert response.json() == {"data": {"serverInfo": {"version": "1.0.0"}}}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_subscriptions_are_refused_over_http(client: httpx.Client, method: str) -> None:
    query = "subscription { ticks(count: 1) }"
    if method == "GET":
        response = client.get("/graphql", params={"query": query})
    else:
        response = client.post("/graphql", json={"query": query})
    assert response.status_code in (400, 405)
    error = response.json()["errors"][0]
    assert "subscriptions are not allowed" in error["message"]
    assert error["extensions"]["code"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2",
        b'{"query": 42}',
        b"\xff\xfe\x00",
        b'"just a string"',
        b"17",
        b'{"query": "{ serverInfo { name } }", "variables": [1]}',
        b'{"query": "{ serverInfo { name } }", "operationName": 5}',
        b"",
    ],
)
def test_malformed_bodies_get_400(client: httpx.Client, body: bytes) -> None:
    response = client.post("/graphql", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_syntax_error_is_reported_with_a_code(client: httpx.Client) -> None:
    response = client.post("/graphql", json={"query": "{ serverInfo { "})
    errors = response.json()["errors"]
    assert "Syntax Error" in errors[0]["message"]
    assert errors[0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_unknown_field_is_a_validation_error(client: httpx.Client) -> None:
    response = client.post("/graphql", json={"query": "{ serverInfo { password } }"})
    errors = response.json()["errors"]
    assert "Cannot query field 'password'" in errors[0]["message"]


def test_wrong_argument_type_is_rejected(client: httpx.Client) -> None:
    response = client.post(
        "/graphql",
        json={
            "query": "query($n: Boolean!) { serverInfo @include(if: $n) { name } }",
            "variables": {"n": "yes"},
        },
    )
    errors = response.json()["errors"]
    assert "Variable '$n' has invalid value" in errors[0]["message"]
    assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "data" not in response.json() or response.json()["data"] is None


def test_hostile_unicode_is_answered_not_crashed(client: httpx.Client) -> None:
    query = "{ serverInfo { name } } # \u202e\u0000\ud7ff\U0010ffff" + "\u0301" * 500
    response = client.post("/graphql", json={"query": query})
    assert response.status_code in (200, 400)
    body = response.json()
    assert body.get("data") == {"serverInfo": {"name": "fowergram-backend"}} or body["errors"]


def _nested_introspection(levels: int) -> str:
    inner = "name"
    for _ in range(levels):
        inner = f"ofType {{ {inner} }}"
    return f"{{ __schema {{ queryType {{ fields {{ type {{ {inner} }} }} }} }} }}"


def test_depth_limit_covers_introspection(client: httpx.Client) -> None:
    # The introspection bomb: 4 + 20 levels, past the introspection bound of 20.
    response = client.post("/graphql", json={"query": _nested_introspection(20)})
    body = response.json()
    assert body.get("data") is None
    assert "exceeds the maximum depth" in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


def test_the_standard_introspection_query_is_allowed(client: httpx.Client) -> None:
    # What GraphiQL sends on load (graphql-js's getIntrospectionQuery, deeper than 12).
    query = get_introspection_query(descriptions=True, input_value_deprecation=True)
    body = client.post("/graphql", json={"query": query}).json()
    assert "errors" not in body
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"Query", "Subscription", "ServerInfo"} <= names


def test_application_fields_keep_the_tighter_limit() -> None:
    from graphql import build_schema, parse, validate

    schema = build_schema("type Node { child: Node name: String } type Query { root: Node }")
    deep = "{ root { " + "child { " * 12 + "name" + " }" * 12 + " } }"
    shallow = "{ root { " + "child { " * 10 + "name" + " }" * 10 + " } }"
    assert validate(schema, parse(deep), [max_depth_rule(12)])
    assert not validate(schema, parse(shallow), [max_depth_rule(12)])


def test_depth_limit_follows_fragments_and_survives_cycles() -> None:
    from graphql import build_schema, parse, validate

    schema = build_schema("type Node { child: Node name: String } type Query { root: Node }")
    through_fragments = (
        "query Deep { root { ...A } } "
        "fragment A on Node { child { child { child { child { ...B } } } } } "
        "fragment B on Node { child { child { child { child { child { child { child "
        "{ name } } } } } } } }"
    )
    errors = validate(schema, parse(through_fragments), [max_depth_rule(12)])
    assert any("'Deep' exceeds the maximum depth of 12" in e.message for e in errors)
    cyclic = "{ root { ...A } } fragment A on Node { child { ...A } }"
    # The cycle itself is reported by the standard rules; ours must just terminate.
    assert validate(schema, parse(cyclic), [max_depth_rule(12)]) == []


def test_queries_within_the_depth_limit_run(client: httpx.Client) -> None:
    response = client.post("/graphql", json={"query": _nested_introspection(3)})
    assert response.json()["data"]["__schema"]["queryType"]["fields"]


def test_oversize_body_gets_413_and_is_not_executed(client: httpx.Client) -> None:
    padding = "#" + "x" * (1024 * 1024)
    response = client.post("/graphql", json={"query": f"{{ serverInfo {{ name }} }}\n{padding}"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_oversize_chunked_body_gets_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"query": "{ serverInfo { name } }", "x": "'
        for _ in range(40):
            yield b"y" * 65536
        yield b'"}'

    response = client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_request_id_is_generated_or_kept(client: httpx.Client) -> None:
    generated = client.get("/health").headers["x-request-id"]
    assert re.fullmatch("[0-9a-f]{20}", generated)  # 80 random bits
    assert client.get("/health").headers["x-request-id"] != generated
    kept = client.get("/health", headers={"x-request-id": "trace-abc.123"})
    assert kept.headers["x-request-id"] == "trace-abc.123"
    hostile = client.get("/health", headers={b"x-request-id": "bad id\u00e9".encode()})
    assert hostile.headers["x-request-id"] != "bad id\u00e9"


def test_alias_flood_is_refused_before_execution(client: httpx.Client) -> None:
    query = "{ " + " ".join(f"a{n}: serverInfo {{ time }}" for n in range(31)) + " }"
    response = client.post("/graphql", json={"query": query})
    body = response.json()
    assert body.get("data") is None
    assert "aliases found. Allowed: 30" in body["errors"][0]["message"]


def test_token_flood_is_refused_by_the_parser(client: httpx.Client) -> None:
    query = "{ serverInfo { " + "name " * 6000 + "} }"
    response = client.post("/graphql", json={"query": query})
    body = response.json()
    assert body.get("data") is None
    assert "more than 5000 tokens" in body["errors"][0]["message"]
