"""REST /auth through the shared real server: sign up and in, refresh, sessions, bad input."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import psycopg
import pytest
from conftest import make_settings
from support.auth_helpers import (
    PASSWORD,
    Person,
    bearer,
    error_of,
    http_client,
    new_ip,
    new_person,
    session_of,
    sign_in,
    sign_up,
)
from support.live_server import LiveServer
from support.services import ServiceUrls

from fowergram.app import create_app
from fowergram.observability.logs import JsonFormatter


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with http_client(live_server.http_url) as client:
        yield client


def fullwidth(text: str) -> str:
    """ASCII letters, digits and punctuation as their fullwidth forms (NFKC folds them back)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def accounts_matching(database_url: str, person: Person) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM users WHERE lower(email) = lower(%s) OR username = %s",
            (person.email, person.username),
        ).fetchone()
    assert row is not None
    count: int = row[0]
    return count


def sessions_of(client: httpx.Client, access_token: str) -> list[dict[str, Any]]:
    response = client.get("/auth/sessions", headers=bearer(access_token))
    assert response.status_code == 200, response.text
    sessions: list[dict[str, Any]] = response.json()["sessions"]
    return sessions


def assert_rejected(client: httpx.Client, access_token: str) -> None:
    response = client.get("/auth/sessions", headers=bearer(access_token))
    assert error_of(response, 401)["extensions"] == {"code": "UNAUTHENTICATED"}


def refresh(client: httpx.Client, refresh_token: str) -> httpx.Response:
    return client.post("/auth/session/refresh", json={"refreshToken": refresh_token})


# --- sign up ---------------------------------------------------------------------------------


def test_sign_up_returns_tokens_and_the_normalised_user(client: httpx.Client) -> None:
    person = new_person()
    typed = {
        "email": f"  {person.email.upper()} ",
        "username": f" {fullwidth(person.username.upper())} ",
        "password": PASSWORD,
    }
    before = datetime.now(UTC)
    response = client.post("/auth/signup", json=typed)
    body = session_of(response, 201)

    user = body["user"]
    assert user == {
        "id": user["id"],
        "username": person.username,
        "email": person.email,
        "emailVerified": False,
        "role": "user",
    }
    assert user["id"].isdigit()
    assert uuid.UUID(body["sessionId"])
    assert body["accessToken"].count(".") == 2  # a JWT
    assert len(body["refreshToken"]) >= 43  # 256 random bits, URL-safe
    assert body["antiCsrf"]
    access_expires = datetime.fromisoformat(body["accessTokenExpiresAt"])
    refresh_expires = datetime.fromisoformat(body["refreshTokenExpiresAt"])
    assert before < access_expires <= before + timedelta(minutes=16)
    assert access_expires < refresh_expires
    assert "set-cookie" not in response.headers  # header mode: tokens in the body only

    [session] = sessions_of(client, body["accessToken"])
    assert session["id"] == body["sessionId"]
    assert session["current"] is True


def test_an_email_that_looks_like_sql_is_stored_verbatim(client: httpx.Client) -> None:
    suffix = uuid.uuid4().hex[:12]
    person = Person(username=f"ob_{suffix}", email=f"o'brien--{suffix}@example.ie")
    assert sign_up(client, person)["user"]["email"] == person.email
    assert sign_in(client, person.email)["user"]["username"] == person.username


@pytest.mark.parametrize(
    "spelling",
    [str.upper, fullwidth, lambda name: f"  {name.title()}  "],
    ids=["upper-case", "fullwidth", "padded-title-case"],
)
def test_a_taken_username_is_a_conflict_in_any_spelling(
    client: httpx.Client, migrated_database: str, spelling: Any
) -> None:
    first = new_person()
    sign_up(client, first)
    second = Person(username=spelling(first.username), email=new_person().email)

    response = client.post("/auth/signup", json=second.sign_up_body())

    error = error_of(response, 409)
    assert error["extensions"] == {"code": "CONFLICT", "field": "username"}
    # Only the first account exists: none was made with the second email.
    assert accounts_matching(migrated_database, Person(first.username, second.email)) == 1


@pytest.mark.parametrize("spelling", [str.upper, fullwidth], ids=["upper-case", "fullwidth"])
def test_a_taken_email_is_a_conflict(
    client: httpx.Client, migrated_database: str, spelling: Any
) -> None:
    first = new_person()
    sign_up(client, first)
    second = Person(username=new_person().username, email=spelling(first.email))

    response = client.post("/auth/signup", json=second.sign_up_body())

    assert error_of(response, 409)["extensions"] == {"code": "CONFLICT", "field": "email"}
    # Only the first account exists: none was made with the second username.
    assert accounts_matching(migrated_database, Person(second.username, first.email)) == 1


# --- sign in ---------------------------------------------------------------------------------


def test_sign_in_by_email_or_username_in_any_spelling(client: httpx.Client) -> None:
    person = new_person()
    user_id = sign_up(client, person)["user"]["id"]
    identifiers = [
        person.email,
        person.email.upper(),
        person.username,
        person.username.upper(),
        fullwidth(person.username),
        f"  {person.username}  ",
    ]
    sessions = set()
    for identifier in identifiers:
        body = sign_in(client, identifier)
        assert body["user"]["id"] == user_id, identifier
        assert body["accessToken"]
        assert body["refreshToken"]
        sessions.add(body["sessionId"])
    assert len(sessions) == len(identifiers)  # one new session per sign-in


def test_sign_in_with_the_email_typed_in_fullwidth_as_at_sign_up(client: httpx.Client) -> None:
    # Typed with a CJK input method in fullwidth mode: accepted (and folded) at sign-up, so the
    # same keystrokes must sign in too.
    person = new_person()
    typed_email = fullwidth(person.email)
    signed_up = session_of(
        client.post("/auth/signup", json=Person(person.username, typed_email).sign_up_body()), 201
    )
    assert signed_up["user"]["email"] == person.email

    assert sign_in(client, typed_email)["user"]["id"] == signed_up["user"]["id"]


def test_wrong_password_and_unknown_account_answer_byte_for_byte_alike(
    client: httpx.Client,
) -> None:
    person = new_person()
    sign_up(client, person)
    stranger = new_person()
    attempts = [
        {"identifier": person.username, "password": PASSWORD + "!"},
        {"identifier": person.email, "password": "wrong password"},
        {"identifier": stranger.username, "password": PASSWORD},
        {"identifier": stranger.email, "password": PASSWORD},
        {"identifier": "not a username!", "password": PASSWORD},
    ]
    responses = [client.post("/auth/signin", json=attempt) for attempt in attempts]

    assert {r.status_code for r in responses} == {401}
    assert len({r.content for r in responses}) == 1, [r.content for r in responses]
    assert error_of(responses[0], 401)["extensions"] == {"code": "UNAUTHENTICATED"}
    assert all("set-cookie" not in r.headers for r in responses)


def test_a_hash_made_with_an_older_cost_is_upgraded_at_sign_in(
    live_server: LiveServer, service_urls: ServiceUrls, migrated_database: str
) -> None:
    person = new_person()
    with http_client(live_server.http_url) as client:
        sign_up(client, person)  # the shared server hashes with time_cost=1
    settings = make_settings(service_urls, migrated_database, argon2_time_cost=2)

    with (
        LiveServer(create_app(settings), settings) as costlier,
        http_client(costlier.http_url) as client,
    ):
        assert sign_in(client, person.username)["user"]["username"] == person.username
        with psycopg.connect(migrated_database) as conn:
            row = conn.execute(
                "SELECT password_hash FROM users WHERE username = %s", (person.username,)
            ).fetchone()
        assert row is not None
        assert row[0].startswith("$argon2id$")
        assert ",t=2," in row[0]
        # The upgraded hash still verifies the same password (and no other).
        assert sign_in(client, person.email)["user"]["username"] == person.username
        wrong = {"identifier": person.email, "password": PASSWORD + "?"}
        error_of(client.post("/auth/signin", json=wrong), 401)


def test_passwords_never_reach_the_logs(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = f"hunter2-{uuid.uuid4().hex}"
    person = Person(new_person().username, new_person().email, secret)
    sign_up(client, person)
    client.post("/auth/signin", json={"identifier": person.username, "password": secret + "x"})
    client.post("/auth/signin", json={"identifier": person.email, "password": ["nope", secret]})
    literal = (
        f'mutation {{ signIn(identifier: "{person.email}", password: "{secret}") {{ sessionId }} }}'
    )
    client.post("/graphql", json={"query": literal})  # the password inside the document
    client.post("/auth/signup", json=person.sign_up_body())  # a conflict
    assert sign_in(client, person.username, secret)

    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert lines  # the server did log these requests
    assert not [line for line in lines if secret in line]


# --- refresh ---------------------------------------------------------------------------------


def test_refresh_rotates_the_refresh_token(client: httpx.Client) -> None:
    first = sign_up(client, new_person())

    second = session_of(refresh(client, first["refreshToken"]))

    assert second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    assert second["antiCsrf"] != first["antiCsrf"]
    assert second["sessionId"] == first["sessionId"]
    assert second["user"] == first["user"]
    [session] = sessions_of(client, second["accessToken"])
    assert session["id"] == first["sessionId"]
    # The new refresh token is the current one: it rotates again.
    third = session_of(refresh(client, second["refreshToken"]))
    assert third["refreshToken"] not in {first["refreshToken"], second["refreshToken"]}


def test_a_replayed_refresh_token_revokes_the_session_at_once(client: httpx.Client) -> None:
    person = new_person()
    stolen = sign_up(client, person)
    rotated = session_of(refresh(client, stolen["refreshToken"]))
    assert sessions_of(client, rotated["accessToken"])

    replay = refresh(client, stolen["refreshToken"])

    assert error_of(replay, 401)["extensions"] == {"code": "UNAUTHENTICATED"}
    assert_rejected(client, rotated["accessToken"])  # long before it expires
    assert_rejected(client, stolen["accessToken"])
    error_of(refresh(client, rotated["refreshToken"]), 401)  # the whole family is dead
    other = sign_in(client, person.username)
    assert [s["id"] for s in sessions_of(client, other["accessToken"])] == [other["sessionId"]]


def test_refresh_with_an_unknown_or_missing_token(client: httpx.Client) -> None:
    error = error_of(refresh(client, "x" * 43), 401)
    assert error["extensions"] == {"code": "UNAUTHENTICATED"}
    missing = client.post("/auth/session/refresh", json={})
    assert error_of(missing, 400)["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "refreshToken",
    }


# --- sign out and sessions -------------------------------------------------------------------


def test_sign_out_rejects_the_access_token_at_once(client: httpx.Client) -> None:
    body = sign_up(client, new_person())
    assert sessions_of(client, body["accessToken"])

    response = client.post("/auth/signout", headers=bearer(body["accessToken"]))

    assert response.status_code == 200
    assert response.json() == {"signedOut": True}
    assert_rejected(client, body["accessToken"])
    error_of(refresh(client, body["refreshToken"]), 401)
    again = client.post("/auth/signout", headers=bearer(body["accessToken"]))
    assert error_of(again, 401)["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/auth/signout"),
        ("POST", "/auth/signout/everywhere"),
        ("GET", "/auth/sessions"),
        ("DELETE", f"/auth/sessions/{uuid.uuid4()}"),
    ],
)
def test_session_endpoints_need_credentials(client: httpx.Client, method: str, path: str) -> None:
    response = client.request(method, path)
    assert error_of(response, 401)["extensions"] == {"code": "UNAUTHENTICATED"}


def test_sessions_list_every_device_and_mark_the_current_one(live_server: LiveServer) -> None:
    person = new_person()
    phone_ip, laptop_ip = new_ip(), new_ip()
    with (
        http_client(live_server.http_url, ip=phone_ip) as phone,
        http_client(live_server.http_url, ip=laptop_ip) as laptop,
    ):
        phone.headers["user-agent"] = "FowergramPhone/1.0"
        laptop.headers["user-agent"] = "Mozilla/5.0 laptop"
        on_phone = sign_up(phone, person)
        on_laptop = sign_in(laptop, person.email)

        seen_by_phone = {s["id"]: s for s in sessions_of(phone, on_phone["accessToken"])}
        seen_by_laptop = {s["id"]: s for s in sessions_of(laptop, on_laptop["accessToken"])}

    assert set(seen_by_phone) == {on_phone["sessionId"], on_laptop["sessionId"]}
    assert seen_by_phone[on_phone["sessionId"]]["current"] is True
    assert seen_by_phone[on_laptop["sessionId"]]["current"] is False
    assert seen_by_laptop[on_phone["sessionId"]]["current"] is False
    assert seen_by_laptop[on_laptop["sessionId"]]["current"] is True
    phone_session = seen_by_phone[on_phone["sessionId"]]
    assert (phone_session["userAgent"], phone_session["ip"]) == ("FowergramPhone/1.0", phone_ip)
    laptop_session = seen_by_phone[on_laptop["sessionId"]]
    assert (laptop_session["userAgent"], laptop_session["ip"]) == ("Mozilla/5.0 laptop", laptop_ip)


def test_revoking_another_session_ends_it(client: httpx.Client) -> None:
    person = new_person()
    mine = sign_up(client, person)
    other = sign_in(client, person.username)

    response = client.delete(
        f"/auth/sessions/{other['sessionId']}", headers=bearer(mine["accessToken"])
    )

    assert response.status_code == 200
    assert response.json() == {"revoked": True}
    assert_rejected(client, other["accessToken"])
    error_of(refresh(client, other["refreshToken"]), 401)
    assert [s["id"] for s in sessions_of(client, mine["accessToken"])] == [mine["sessionId"]]
    again = client.delete(
        f"/auth/sessions/{other['sessionId']}", headers=bearer(mine["accessToken"])
    )
    assert error_of(again, 404)["extensions"] == {"code": "NOT_FOUND"}


def test_revoking_the_current_session_signs_it_out(client: httpx.Client) -> None:
    mine = sign_up(client, new_person())
    response = client.delete(
        f"/auth/sessions/{mine['sessionId']}", headers=bearer(mine["accessToken"])
    )
    assert response.json() == {"revoked": True}
    assert_rejected(client, mine["accessToken"])


def test_revoking_an_unknown_session_is_not_found(client: httpx.Client) -> None:
    mine = sign_up(client, new_person())
    response = client.delete(f"/auth/sessions/{uuid.uuid4()}", headers=bearer(mine["accessToken"]))
    assert error_of(response, 404)["extensions"] == {"code": "NOT_FOUND"}
    assert sessions_of(client, mine["accessToken"])


def test_someone_elses_session_cannot_be_revoked(client: httpx.Client) -> None:
    mine = sign_up(client, new_person())
    theirs = sign_up(client, new_person())

    response = client.delete(
        f"/auth/sessions/{theirs['sessionId']}", headers=bearer(mine["accessToken"])
    )

    assert error_of(response, 404)["extensions"] == {"code": "NOT_FOUND"}
    assert [s["id"] for s in sessions_of(client, theirs["accessToken"])] == [theirs["sessionId"]]


def test_sign_out_everywhere_ends_every_session(client: httpx.Client) -> None:
    person = new_person()
    sessions = [sign_up(client, person), sign_in(client, person.email)]
    sessions.append(sign_in(client, person.username))
    bystander = sign_up(client, new_person())

    response = client.post("/auth/signout/everywhere", headers=bearer(sessions[1]["accessToken"]))

    assert response.status_code == 200
    assert response.json() == {"signedOut": True, "sessionsRevoked": 3}
    for session in sessions:
        assert_rejected(client, session["accessToken"])
        error_of(refresh(client, session["refreshToken"]), 401)
    assert sessions_of(client, bystander["accessToken"])  # other people are untouched
    fresh = sign_in(client, person.username)  # and signing in again works
    assert [s["id"] for s in sessions_of(client, fresh["accessToken"])] == [fresh["sessionId"]]


# --- bad input -------------------------------------------------------------------------------


def _with(person: Person, **changes: object) -> bytes:
    body: dict[str, object] = dict(person.sign_up_body())
    for key, value in changes.items():
        if value is ...:
            del body[key]
        else:
            body[key] = value
    return orjson.dumps(body)


BAD_BODIES: list[tuple[str, Any, str | None]] = [
    ("form-encoded", lambda p: f"email={p.email}&username={p.username}".encode(), None),
    ("not-json", lambda p: b"{email: " + p.email.encode(), None),
    ("empty", lambda p: b"", None),
    ("invalid-utf8", lambda p: b'{"email": "\xff\xfe"}', None),
    ("json-array", lambda p: orjson.dumps([p.sign_up_body()]), None),
    ("json-string", lambda p: orjson.dumps(p.email), None),
    ("json-null", lambda p: b"null", None),
    ("lone-surrogate", lambda p: _with(p)[:-1] + b',"password":"pass\\ud800word"}', None),
    ("missing-email", lambda p: _with(p, email=...), "email"),
    ("missing-username", lambda p: _with(p, username=...), "username"),
    ("missing-password", lambda p: _with(p, password=...), "password"),
    ("numeric-password", lambda p: _with(p, password=123), "password"),
    ("null-username", lambda p: _with(p, username=None), "username"),
    ("list-username", lambda p: _with(p, username=[p.username]), "username"),
    ("object-email", lambda p: _with(p, email={"address": p.email}), "email"),
    ("boolean-password", lambda p: _with(p, password=True), "password"),
]


@pytest.mark.parametrize(
    ("build", "field"), [pytest.param(b, f, id=name) for name, b, f in BAD_BODIES]
)
def test_malformed_sign_up_bodies_are_refused(
    client: httpx.Client, migrated_database: str, build: Any, field: str | None
) -> None:
    person = new_person()
    response = client.post(
        "/auth/signup", content=build(person), headers={"content-type": "application/json"}
    )
    extensions = error_of(response, 400)["extensions"]
    expected = {"code": "BAD_USER_INPUT"} | ({"field": field} if field else {})
    assert extensions == expected
    assert accounts_matching(migrated_database, person) == 0


HOSTILE_USERNAMES = {
    "31-chars": "a" * 31,
    "zero-width-space": "ana\u200bbel",
    "rtl-override": "ana\u202elebana",
    "nul": "ana\x00bel",
    "cyrillic-homoglyph": "аnabel",
    "combining-accent": "ana\u0301bel",
    "emoji": "ana🌸bel",
    "sql": "x'; DROP TABLE users;--",
    "reserved": "ＡＤＭＩＮ",
    "double-dot": "ana..bel",
    "leading-dot": ".anabel",
    "blank": "   ",
}


@pytest.mark.parametrize("username", HOSTILE_USERNAMES.values(), ids=HOSTILE_USERNAMES.keys())
def test_hostile_usernames_are_refused(
    client: httpx.Client, migrated_database: str, username: str
) -> None:
    person = new_person()
    response = client.post("/auth/signup", json=Person(username, person.email).sign_up_body())
    extensions = error_of(response, 400)["extensions"]
    assert extensions == {"code": "BAD_USER_INPUT", "field": "username"}
    assert accounts_matching(migrated_database, person) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "ana@example"),
        ("email", "ana\x00@example.com"),
        ("email", "ana maria@example.com"),
        ("email", "a" * 64 + "@" + "b" * 186 + ".com"),  # 255 characters
        ("password", "x" * 7),
        ("password", "x" * 257),
        ("password", " " * 12),
    ],
)
def test_bad_emails_and_passwords_are_refused(
    client: httpx.Client, migrated_database: str, field: str, value: str
) -> None:
    person = new_person()
    body = person.sign_up_body() | {field: value}
    response = client.post("/auth/signup", json=body)
    assert error_of(response, 400)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    assert accounts_matching(migrated_database, person) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"password": PASSWORD}, "identifier"),
        ({"identifier": 123, "password": PASSWORD}, "identifier"),
        ({"identifier": "ana"}, "password"),
        ({"identifier": "ana", "password": 12345678}, "password"),
    ],
)
def test_malformed_sign_in_bodies_are_refused(
    client: httpx.Client, body: dict[str, object], field: str
) -> None:
    response = client.post("/auth/signin", json=body)
    assert error_of(response, 400)["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


@pytest.mark.parametrize("forwarded", ["not-an-ip", "1.2.3.4.5", "' OR 1=1 --", "::ffff:1.2.3.x"])
def test_a_hostile_forwarded_address_is_ignored_not_a_500(
    live_server: LiveServer, forwarded: str
) -> None:
    person = new_person()
    with httpx.Client(base_url=live_server.http_url, timeout=10) as client:
        response = client.post(
            "/auth/signup",
            json=person.sign_up_body(),
            headers={"x-forwarded-for": forwarded},
        )
        assert response.status_code == 201, response.text
        sessions = client.get(
            "/auth/sessions", headers={"authorization": f"Bearer {response.json()['accessToken']}"}
        ).json()["sessions"]
    assert sessions[0]["ip"] is None


async def test_two_tabs_refreshing_at_once_do_not_sign_the_user_out(
    service_urls: ServiceUrls, migrated_database: str
) -> None:
    import asyncio

    settings = make_settings(service_urls, migrated_database, refresh_reuse_grace_s=10)
    with LiveServer(create_app(settings), settings) as server:
        person = new_person()
        async with httpx.AsyncClient(base_url=server.http_url, timeout=10) as client:
            signed_up = (await client.post("/auth/signup", json=person.sign_up_body())).json()
            body = {"refreshToken": signed_up["refreshToken"]}
            first, second = await asyncio.gather(
                client.post("/auth/session/refresh", json=body),
                client.post("/auth/session/refresh", json=body),
            )
            assert sorted([first.status_code, second.status_code]) == [200, 401]
            winner = first if first.status_code == 200 else second
            sessions = await client.get(
                "/auth/sessions",
                headers={"authorization": f"Bearer {winner.json()['accessToken']}"},
            )
            assert sessions.status_code == 200  # the session survived the race
            again = await client.post(
                "/auth/session/refresh", json={"refreshToken": winner.json()["refreshToken"]}
            )
            assert again.status_code == 200
