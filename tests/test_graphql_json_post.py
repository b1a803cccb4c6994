"""One operation POSTed as JSON is answered without Strawberry's view machinery, and the
answers are those its view gives: status, body and headers, for good and bad requests."""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Any

import httpx
import orjson
import pytest
from support.live_server import LiveServer

from fowergram.graphql.app import GraphQLView

SERVER_INFO = "query Info { serverInfo { name version } }"
USER = "query U($u: String!) { user(username: $u) { id } }"


def _persisted(document: str) -> dict[str, object]:
    digest = hashlib.sha256(document.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


REGISTERED = "query Registered { serverInfo { environment } } # " + uuid.uuid4().hex
JSON = "application/json"
UNKNOWN = "nothing " + uuid.uuid4().hex
CASES: list[tuple[str, bytes, str]] = [
    ("query", orjson.dumps({"query": SERVER_INFO}), JSON),
    ("charset", orjson.dumps({"query": SERVER_INFO}), JSON + "; charset=utf-8"),
    ("capitals", orjson.dumps({"query": SERVER_INFO}), "Application/JSON"),
    ("variables", orjson.dumps({"query": USER, "variables": {"u": 5}}), JSON),
    ("unauthenticated", orjson.dumps({"query": "{ me { id } }"}), JSON),
    ("syntax error", orjson.dumps({"query": "{ serverInfo {"}), JSON),
    ("unknown field", orjson.dumps({"query": "{ nope }"}), JSON),
    ("unknown operation", orjson.dumps({"query": SERVER_INFO, "operationName": "X"}), JSON),
    ("numeric operation name", orjson.dumps({"query": SERVER_INFO, "operationName": 5}), JSON),
    ("list variables", orjson.dumps({"query": SERVER_INFO, "variables": [1]}), JSON),
    ("no query", b"{}", JSON),
    ("subscription", orjson.dumps({"query": "subscription { ticks(count: 1) }"}), JSON),
    ("batch", orjson.dumps([{"query": SERVER_INFO}]), JSON),
    ("malformed", b"{not json", JSON),
    ("unknown hash", orjson.dumps({"extensions": _persisted(UNKNOWN)}), JSON),
    ("known hash", orjson.dumps({"extensions": _persisted(REGISTERED)}), JSON),
    ("bad hash", orjson.dumps({"query": SERVER_INFO, "extensions": _persisted("x")}), JSON),
    ("plain text", b"{ serverInfo { name } }", "text/plain"),
]


@pytest.fixture
def json_posts(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each request was answered by the JSON POST path (the server is in-process)."""
    answered: list[bool] = []
    original = GraphQLView._json_post

    async def counting(self: GraphQLView, request: Any) -> Any:
        try:
            response = await original(self, request)
        except Exception:  # a refusal (400) is an answer too
            answered.append(True)
            raise
        answered.append(response is not None)
        return response

    monkeypatch.setattr(GraphQLView, "_json_post", counting)
    return answered


def _seen(response: httpx.Response) -> tuple[int, str, Any]:
    body = re.sub(rb"error id \w+|\"errorId\":\"\w+\"", b"<id>", response.content)
    return response.status_code, response.headers["content-type"], orjson.loads(body)


def test_answers_as_the_view_does(
    live_server: LiveServer, json_posts: list[bool], monkeypatch: pytest.MonkeyPatch
) -> None:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as client:
        client.post("/graphql", json={"query": REGISTERED, "extensions": _persisted(REGISTERED)})

        def answers() -> dict[str, tuple[int, str, Any]]:
            return {
                case: _seen(
                    client.post("/graphql", content=body, headers={"content-type": media_type})
                )
                for case, body, media_type in CASES
            }

        fast = answers()
        answered_fast = dict(zip([case for case, _, _ in CASES], json_posts[1:], strict=True))

        async def declining(self: GraphQLView, request: Any) -> None:
            return None

        monkeypatch.setattr(GraphQLView, "_json_post", declining)
        assert answers() == fast

    assert fast["query"] == (
        200,
        "application/json",
        {"data": {"serverInfo": {"name": "fowergram-backend", "version": "1.0.0"}}},
    )
    assert fast["known hash"][2] == {"data": {"serverInfo": {"environment": "development"}}}
    assert fast["subscription"][0] == 400
    assert fast["no query"][0] == 400
    # What the JSON POST path answered itself, and what it left to the view.
    left = {"numeric operation name", "list variables", "batch", "plain text", "capitals"}
    assert {case for case, answered in answered_fast.items() if not answered} == left
