"""Shared pieces of the auth tests: unique people, clients with their own address, JWT parts.

The session database and the shared server outlive each test, so every test invents its own
people (uuid suffixes) and comes from its own client address: uvicorn trusts
`X-Forwarded-For` from 127.0.0.1 (`proxy_headers`), exactly as behind a reverse proxy, so the
per-IP sign-up and sign-in limits of one test never add up with another's.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

PASSWORD = "correct horse battery staple"
ME = "{ me { id username email emailVerified role } }"
SESSION_FIELDS = "sessionId accessToken refreshToken antiCsrf account { id username email }"


@dataclass(frozen=True, slots=True)
class Person:
    username: str
    email: str
    password: str = PASSWORD

    def sign_up_body(self) -> dict[str, str]:
        return {"email": self.email, "username": self.username, "password": self.password}


def new_person() -> Person:
    suffix = uuid.uuid4().hex[:16]
    return Person(username=f"u_{suffix}", email=f"u_{suffix}@example.com")


def new_ip() -> str:
    a, b, c = uuid.uuid4().bytes[:3]
    return f"10.{a}.{b}.{c or 1}"


def http_client(base_url: str, *, ip: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=10, headers={"x-forwarded-for": ip or new_ip()})


def async_http_client(base_url: str, *, ip: str | None = None) -> httpx.AsyncClient:
    headers = {"x-forwarded-for": ip or new_ip()}
    return httpx.AsyncClient(base_url=base_url, timeout=10, headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def session_of(response: httpx.Response, status_code: int = 200) -> dict[str, Any]:
    """The JSON body of a successful sign-up, sign-in or refresh."""
    assert response.status_code == status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: httpx.Response, status_code: int) -> dict[str, Any]:
    """The single error of a failed REST call (or of a GraphQL request refused as a whole)."""
    assert response.status_code == status_code, response.text
    assert response.headers["content-type"].startswith("application/json")
    errors = response.json()["errors"]
    assert len(errors) == 1, errors
    error: dict[str, Any] = errors[0]
    return error


def sign_up(client: httpx.Client, person: Person) -> dict[str, Any]:
    return session_of(client.post("/auth/signup", json=person.sign_up_body()), 201)


def sign_in(client: httpx.Client, identifier: str, password: str = PASSWORD) -> dict[str, Any]:
    response = client.post("/auth/signin", json={"identifier": identifier, "password": password})
    return session_of(response)


def graphql(
    client: httpx.Client,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)


def graphql_data(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: dict[str, Any]) -> str:
    return b64url(orjson.dumps(value))


def unb64url_json(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def jwt_header(token: str) -> dict[str, Any]:
    return unb64url_json(token.split(".")[0])


def jwt_payload(token: str) -> dict[str, Any]:
    return unb64url_json(token.split(".")[1])
