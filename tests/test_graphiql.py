"""GraphiQL in development, fully offline; nothing of it in production."""

from __future__ import annotations

import re

import httpx
import pytest
from conftest import make_settings
from support.live_server import LiveServer
from support.services import ServiceUrls

from fowergram.app import create_app


def test_graphiql_page_uses_only_local_assets(live_server: LiveServer) -> None:
    response = httpx.get(f"{live_server.http_url}/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    page = response.text
    assert "<title>Fowergram GraphiQL</title>" in page
    assert not re.search(r"https?://", page), "GraphiQL must not load anything from the network"
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', page)
    assert len(assets) >= 4
    for asset in assets:
        served = httpx.get(f"{live_server.http_url}{asset}")
        assert served.status_code == 200, asset
        assert len(served.content) > 1000
        assert b"sourceMappingURL" not in served.content


@pytest.fixture
def production_server(service_urls: ServiceUrls, migrated_database: str):  # type: ignore[no-untyped-def]
    settings = make_settings(service_urls, migrated_database, environment="production")
    with LiveServer(create_app(settings), settings) as server:
        yield server


def test_production_has_no_graphiql_and_no_introspection(production_server: LiveServer) -> None:
    base = production_server.http_url
    page = httpx.get(f"{base}/graphql", headers={"accept": "text/html"})
    assert "GraphiQL" not in page.text
    assert httpx.get(f"{base}/static/graphiql/graphiql.min.js").status_code == 404

    introspection = httpx.post(f"{base}/graphql", json={"query": "{ __schema { types { name } } }"})
    assert "introspection" in introspection.json()["errors"][0]["message"].lower()

    query = httpx.post(f"{base}/graphql", json={"query": "{ serverInfo { environment } }"})
    assert query.json() == {"data": {"serverInfo": {"environment": "production"}}}
