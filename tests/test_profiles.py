"""Profiles over GraphQL: lookup by username, hidden when blocked or deleted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from support.live_server import LiveServer

USER = "query($u: String!) { user(username: $u) { id username fullName isPrivate followersCount } }"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as http:
        yield http


def _sign_up(client: httpx.Client) -> dict[str, str]:
    name = f"p{uuid.uuid4().hex[:12]}"
    body = {"email": f"{name}@example.com", "username": name, "password": "p" * 12}
    response = client.post("/auth/signup", json=body, headers={"x-forwarded-for": name[-8:]})
    assert response.status_code == 201, response.text
    return {
        "username": name,
        "id": response.json()["user"]["id"],
        "token": response.json()["accessToken"],
    }


def test_user_by_username_case_insensitively(client: httpx.Client) -> None:
    person = _sign_up(client)
    body = client.post(
        "/graphql", json={"query": USER, "variables": {"u": person["username"].upper()}}
    )
    assert body.json()["data"]["user"] == {
        "id": person["id"],
        "username": person["username"],
        "fullName": "",
        "isPrivate": False,
        "followersCount": 0,
    }


def test_unknown_blocked_and_deleted_users_look_the_same(
    client: httpx.Client, migrated_database: str
) -> None:
    viewer, blocker, deleted = _sign_up(client), _sign_up(client), _sign_up(client)
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO blocks (blocker_id, blocked_id) VALUES (%s, %s)",
            (int(blocker["id"]), int(viewer["id"])),
        )
        conn.execute("UPDATE users SET deleted_at = now() WHERE id = %s", (int(deleted["id"]),))
    bearer = {"authorization": f"Bearer {viewer['token']}"}
    errors = []
    for username in (blocker["username"], deleted["username"], "nobody_at_all_here"):
        response = client.post(
            "/graphql", json={"query": USER, "variables": {"u": username}}, headers=bearer
        )
        errors.append(response.json()["errors"][0])
    assert {e["extensions"]["code"] for e in errors} == {"NOT_FOUND"}
    assert len({e["message"] for e in errors}) == 1
    # Without the block, the blocker's profile is visible to others.
    stranger = client.post(
        "/graphql", json={"query": USER, "variables": {"u": blocker["username"]}}
    )
    assert stranger.json()["data"]["user"]["username"] == blocker["username"]


PAGE = "query($u: String!) { user(username: $u) { id posts(first: 12) { edges { node { id } } } } }"


@pytest.mark.parametrize("query", [USER, PAGE], ids=["profile", "profile-page"])
@pytest.mark.parametrize(
    "username",
    ["ana\x00", "a" * 10_000, "\u202eana", "ana\x1b[31m", "'; DROP TABLE users; --", ""],
    ids=["nul", "huge", "rtl-override", "escape", "sql", "empty"],
)
def test_names_no_account_can_have_are_simply_not_found(
    client: httpx.Client, query: str, username: str
) -> None:
    response = client.post("/graphql", json={"query": query, "variables": {"u": username}})
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["NOT_FOUND"]
