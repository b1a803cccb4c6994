"""People and GraphQL calls for the social-graph and profile tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from support.auth_helpers import bearer, new_ip, new_person, sign_up

RELATIONSHIP = "userId following followedBy requested requestedBy blocking blockedBy muting"


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    username: str
    token: str


def join(client: httpx.Client) -> Member:
    """A new signed-up person, from an address of their own (per-IP sign-up limit)."""
    person = new_person()
    with httpx.Client(base_url=client.base_url, headers={"x-forwarded-for": new_ip()}) as own:
        body = sign_up(own, person)
    return Member(id=body["user"]["id"], username=person.username, token=body["accessToken"])


def call(client: httpx.Client, who: Member | None, query: str, **variables: Any) -> dict[str, Any]:
    headers = bearer(who.token) if who else {}
    response = client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ok(client: httpx.Client, who: Member | None, query: str, **variables: Any) -> dict[str, Any]:
    body = call(client, who, query, **variables)
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def fails(client: httpx.Client, who: Member | None, query: str, **variables: Any) -> dict[str, Any]:
    body = call(client, who, query, **variables)
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    return error


def act(client: httpx.Client, who: Member, mutation: str, user_id: str) -> dict[str, Any]:
    """Run a graph mutation (follow, block, ...) and return the relationship it answers."""
    query = f"mutation($u: ID!) {{ {mutation}(userId: $u) {{ {RELATIONSHIP} }} }}"
    result: dict[str, Any] = ok(client, who, query, u=user_id)[mutation]
    return result


def counts(database_url: str, user_id: str) -> tuple[int, int, int, int]:
    """(followers_count, following_count) and the same counted from the follow rows."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT followers_count, following_count, "
            "(SELECT count(*) FROM follows WHERE followee_id = u.id AND status = 'accepted'), "
            "(SELECT count(*) FROM follows WHERE follower_id = u.id AND status = 'accepted') "
            "FROM users u WHERE id = %s",
            (int(user_id),),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def events(database_url: str, actor_id: str) -> list[tuple[str, int | None, dict[str, Any]]]:
    """The outbox events an actor caused, oldest first."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT kind, aggregate_id, payload FROM outbox "
            "WHERE payload->>'actorId' = %s ORDER BY id",
            (actor_id,),
        ).fetchall()
    return [(kind, aggregate_id, payload) for kind, aggregate_id, payload in rows]
