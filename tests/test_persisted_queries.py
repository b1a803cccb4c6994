"""Automatic persisted queries (Apollo's protocol) through a real server."""

from __future__ import annotations

import hashlib
import uuid

import httpx
import orjson
from support.live_server import LiveServer

QUERY = "query ServerName { serverInfo { name } } # %s"


def _persisted(document: str) -> dict[str, object]:
    digest = hashlib.sha256(document.encode()).hexdigest()
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


def test_hash_first_then_document_then_hash_alone(live_server: LiveServer) -> None:
    document = QUERY % uuid.uuid4()  # a document no earlier test registered
    extensions = _persisted(document)
    with httpx.Client(base_url=live_server.http_url) as client:
        miss = client.post("/graphql", json={"extensions": extensions})
        assert miss.status_code == 200
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"

        registered = client.post("/graphql", json={"query": document, "extensions": extensions})
        assert registered.json() == {"data": {"serverInfo": {"name": "fowergram-backend"}}}

        by_hash = client.post("/graphql", json={"extensions": extensions})
        assert by_hash.json() == registered.json()
        # GET with the hash alone, as CDN-friendly clients do.
        via_get = client.get("/graphql", params={"extensions": orjson.dumps(extensions).decode()})
        assert via_get.json() == registered.json()


def test_a_hash_that_does_not_match_its_document_is_refused(live_server: LiveServer) -> None:
    document = QUERY % uuid.uuid4()
    wrong = _persisted(document + " ")
    with httpx.Client(base_url=live_server.http_url) as client:
        response = client.post("/graphql", json={"query": document, "extensions": wrong})
        assert response.status_code == 400
        assert "does not match" in response.json()["errors"][0]["message"]
        # Nothing was stored under the wrong hash.
        again = client.post("/graphql", json={"extensions": wrong})
        assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


def test_malformed_persisted_query_extensions(live_server: LiveServer) -> None:
    cases = [
        {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
        {"persistedQuery": {"version": 1, "sha256Hash": "XYZ"}},
        {"persistedQuery": {"version": 1, "sha256Hash": "' OR 1=1 --"}},
        {"persistedQuery": "yes"},
    ]
    with httpx.Client(base_url=live_server.http_url) as client:
        for extensions in cases:
            response = client.post("/graphql", json={"extensions": extensions})
            assert response.status_code in (200, 400)
            assert response.json()["errors"][0]["extensions"]["code"] in (
                "PERSISTED_QUERY_NOT_SUPPORTED",
                "BAD_REQUEST",
            )
