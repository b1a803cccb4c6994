"""Signed-up people with their own client, for the social API tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from support.auth_helpers import bearer, graphql, new_ip, new_person, sign_up


@dataclass
class Member:
    id: int
    username: str
    client: httpx.Client
    token: str

    def query(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole GraphQL answer (data and errors) of `document` as this member."""
        response = graphql(self.client, document, variables, headers=bearer(self.token))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.query(document, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def error(self, document: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.query(document, variables)
        assert body.get("errors"), body
        error: dict[str, Any] = body["errors"][0]
        return error


def join(base_url: str) -> Member:
    person = new_person()
    client = httpx.Client(base_url=base_url, timeout=10, headers={"x-forwarded-for": new_ip()})
    session = sign_up(client, person)
    return Member(int(session["user"]["id"]), person.username, client, session["accessToken"])


def follow_in_db(database_url: str, follower: Member, followee: Member) -> None:
    """An accepted follow, written directly (the follow API is tested on its own)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO follows (follower_id, followee_id, status, accepted_at) "
            "VALUES (%s, %s, 'accepted', now()) ON CONFLICT DO NOTHING",
            (follower.id, followee.id),
        )


def set_private(database_url: str, member: Member) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE users SET is_private = true WHERE id = %s", (member.id,))
