"""Sign-up, sign-in and sessions through SuperTokens (SUPERTOKENS_CONNECTION_URI set).

The SuperTokens core is a Java service that cannot run here. These tests run the real
supertokens-python SDK, our adapter, the composition root, PostgreSQL, Redis and NATS, against
`support.supertokens_core`: a stand-in that answers the core's HTTP API (CDI 5.x, the SDK
speaks 5.4) over real HTTP with the documented JSON shapes and the core's session rules.

What that proves and what it does not:
- verified here: which endpoints the SDK calls for each of our flows and that our adapter
  handles the documented answers (OK, EMAIL_ALREADY_EXISTS_ERROR, WRONG_CREDENTIALS_ERROR,
  UNAUTHORISED, TOKEN_THEFT_DETECTED), local verification of v5 access tokens against the
  core's JWKS, our mapping table, viewer, errors, rate limits, revocation, and REST/GraphQL
  through a real server;
- verified only against the stand-in, never against a real core: the exact payloads a real
  core returns, its refresh-token rotation and theft detection, its key rotation, its API-key
  check, and how it treats the `userDataInJWT` and `userDataInDatabase` we send.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from http.cookies import SimpleCookie

import asyncpg
import jwt
import orjson
import pyotp
import pytest
from conftest import make_settings
from cryptography.hazmat.primitives.asymmetric import rsa
from supertokens_python.recipe.emailpassword.asyncio import sign_up as core_sign_up
from supertokens_python.recipe.session.asyncio import create_new_session_without_request_response
from supertokens_python.types import RecipeUserId
from support.auth_helpers import (
    ME,
    PASSWORD,
    Person,
    bearer,
    error_of,
    graphql,
    graphql_data,
    http_client,
    new_ip,
    new_person,
    session_of,
    sign_in,
    sign_up,
)
from support.live_server import LiveServer
from support.services import ServiceUrls
from support.supertokens_core import FakeSuperTokensCore

from fowergram.adapters.auth.supertokens_provider import SuperTokensAuth
from fowergram.adapters.auth.supertokens_sdk import SuperTokensCore, init_supertokens
from fowergram.app import create_app, open_container
from fowergram.config import Settings
from fowergram.container import Container
from fowergram.domain.auth.accounts import Account
from fowergram.domain.auth.guard import FAILURES_PER_ACCOUNT, SIGN_UP_PER_IP
from fowergram.domain.auth.service import INVALID_CREDENTIALS, Authenticated
from fowergram.domain.auth.sessions import ClientInfo, Tokens
from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.domain.errors import (
    BadUserInput,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from fowergram.observability.metrics import Metrics

API_KEY = "fake-core-api-key-0123456789"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def core() -> Iterator[FakeSuperTokensCore]:
    with FakeSuperTokensCore(api_key=API_KEY) as running:
        yield running


@pytest.fixture(scope="module")
def settings_st(
    service_urls: ServiceUrls, migrated_database: str, core: FakeSuperTokensCore
) -> Settings:
    return make_settings(
        service_urls,
        migrated_database,
        supertokens_connection_uri=core.url,
        supertokens_api_key=API_KEY,
        # A real domain, not 127.0.0.1: the SDK treats the two differently at init.
        public_url="https://fowergram.example",
    )


@pytest.fixture(scope="module")
async def container(settings_st: Settings) -> AsyncIterator[Container]:
    """Built by the composition root, exactly as `serve` builds it."""
    async with open_container(settings_st, Metrics()) as opened:
        yield opened


@pytest.fixture
def auth(container: Container) -> SuperTokensAuth:
    provider = container.services.auth
    assert isinstance(provider, SuperTokensAuth)
    return provider


@pytest.fixture
def db(container: Container) -> asyncpg.Pool:
    return container.db


@pytest.fixture(autouse=True)
def every_core_call_answered(core: FakeSuperTokensCore) -> Iterator[None]:
    """The SDK called only documented endpoints, with our API key and CDI version."""
    start = len(core.calls)
    yield
    refused = [call for call in core.calls[start:] if call.status != 200]
    assert refused == []
    assert core.cdi_versions_seen <= {"5.4"}


def client(user_agent: str = "pytest") -> ClientInfo:
    return ClientInfo(ip=new_ip(), user_agent=user_agent)


async def signed_up(
    auth: SuperTokensAuth, person: Person | None = None, *, user_agent: str = "pytest"
) -> tuple[Person, Account, Tokens]:
    person = person or new_person()
    account, tokens = await auth.sign_up(
        email=person.email, username=person.username, password=PASSWORD, client=client(user_agent)
    )
    return person, account, tokens


async def refused(auth: SuperTokensAuth, access_token: str) -> str:
    with pytest.raises(Unauthenticated) as error:
        await auth.authenticate(access_token)
    return error.value.message


# -- sign-up ------------------------------------------------------------------------------------


async def test_sign_up_keeps_the_account_ours_and_maps_the_supertokens_user(
    auth: SuperTokensAuth, db: asyncpg.Pool, core: FakeSuperTokensCore
) -> None:
    person = new_person()
    start = len(core.calls)
    account, tokens = await auth.sign_up(
        email=f"  {person.email.upper()} ",
        username=person.username.upper(),
        password=PASSWORD,
        client=client(),
    )

    assert (account.username, account.email, account.role) == (
        person.username,
        person.email,
        Role.USER,
    )
    assert account.password_hash is None  # the core keeps the credentials
    core_user = core.user_by_email(person.email)
    assert core_user is not None
    assert core_user.password == PASSWORD
    mapping = await db.fetchrow(
        "SELECT provider, subject FROM external_auth_users WHERE user_id = $1", account.id
    )
    assert mapping is not None
    assert dict(mapping) == {"provider": "supertokens", "subject": core_user.id}
    assert "POST /recipe/signup" in core.paths(start)
    assert core.paths(start)[-1] == "POST /recipe/session"

    core_session = core.session(tokens.session_id)
    assert core_session is not None
    assert core_session.user_id == core_user.id
    now = datetime.now(UTC)
    assert now < tokens.access_expires_at < tokens.refresh_expires_at
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert claims["fg_uid"] == account.id
    assert claims["fg_role"] == "user"
    assert claims["fg_csrf"] == tokens.anti_csrf
    assert claims["sub"] == core_user.id

    authenticated = await auth.authenticate(tokens.access_token)
    viewer = Viewer(account.id, tokens.session_id, Role.USER)
    assert authenticated == Authenticated(viewer, tokens.anti_csrf, tokens.access_expires_at)
    await auth.ensure_live(authenticated)
    assert await auth.account(viewer) == account


async def test_a_taken_email_is_a_conflict_on_email(
    auth: SuperTokensAuth, core: FakeSuperTokensCore
) -> None:
    person, _, _ = await signed_up(auth)
    with pytest.raises(Conflict) as ours:
        await auth.sign_up(
            email=person.email.upper(),
            username=new_person().username,
            password=PASSWORD,
            client=client(),
        )
    assert ours.value.field == "email"

    # An address the core knows but we do not (added in the core directly): the core's answer.
    outsider = new_person()
    assert type(await core_sign_up("public", outsider.email, PASSWORD)).__name__ == (
        "SignUpOkResult"
    )
    start = len(core.calls)
    with pytest.raises(Conflict) as theirs:
        await signed_up(auth, outsider)
    assert theirs.value.field == "email"
    assert "POST /recipe/signup" in core.paths(start)


async def test_a_taken_username_is_ours_to_refuse_before_the_core_is_asked(
    auth: SuperTokensAuth, core: FakeSuperTokensCore
) -> None:
    person, _, _ = await signed_up(auth)
    newcomer = new_person()
    start = len(core.calls)
    with pytest.raises(Conflict) as taken:
        await auth.sign_up(
            email=newcomer.email,
            username=f"\uff35{person.username[1:]}".upper(),  # fullwidth 'U': NFKC folds it
            password=PASSWORD,
            client=client(),
        )
    assert taken.value.field == "username"
    assert core.paths(start) == []
    assert core.user_by_email(newcomer.email) is None


async def test_a_username_lost_to_a_race_undoes_the_core_user(
    auth: SuperTokensAuth, db: asyncpg.Pool, core: FakeSuperTokensCore
) -> None:
    # A soft-deleted account keeps its username reserved, but is not found by the pre-check:
    # the same path as another sign-up taking the name between our check and our insert.
    person, account, _ = await signed_up(auth)
    await db.execute("UPDATE users SET deleted_at = now() WHERE id = $1", account.id)
    newcomer = new_person()
    start = len(core.calls)
    with pytest.raises(Conflict) as taken:
        await signed_up(auth, Person(username=person.username, email=newcomer.email))
    assert taken.value.field == "username"
    assert core.paths(start) == ["POST /recipe/signup", "POST /user/remove"]
    assert core.user_by_email(newcomer.email) is None


@pytest.mark.parametrize(
    ("email", "username", "password", "field"),
    [
        ("not-an-email", "fine_name", PASSWORD, "email"),
        ("fine@example.com", "no spaces", PASSWORD, "username"),
        ("fine@example.com", "admin", PASSWORD, "username"),
        ("fine@example.com", "fine_name", "short", "password"),
    ],
)
async def test_our_input_rules_apply_before_the_core_is_asked(
    auth: SuperTokensAuth,
    core: FakeSuperTokensCore,
    email: str,
    username: str,
    password: str,
    field: str,
) -> None:
    start = len(core.calls)
    with pytest.raises(BadUserInput) as bad:
        await auth.sign_up(email=email, username=username, password=password, client=client())
    assert bad.value.field == field
    assert core.paths(start) == []


async def test_sign_ups_from_one_address_are_throttled(auth: SuperTokensAuth) -> None:
    same_place = client()
    for _ in range(SIGN_UP_PER_IP.limit):
        person = new_person()
        await auth.sign_up(
            email=person.email, username=person.username, password=PASSWORD, client=same_place
        )
    person = new_person()
    with pytest.raises(RateLimited):
        await auth.sign_up(
            email=person.email, username=person.username, password=PASSWORD, client=same_place
        )


# -- sign-in ------------------------------------------------------------------------------------


async def test_sign_in_with_the_email_or_the_username(auth: SuperTokensAuth) -> None:
    person, account, _ = await signed_up(auth)
    for identifier in (person.email, person.email.upper(), person.username, f" {person.username} "):
        signed_in, tokens = await auth.sign_in(
            identifier=identifier, password=PASSWORD, client=client()
        )
        assert signed_in == account
        viewer = (await auth.authenticate(tokens.access_token)).viewer
        assert viewer == Viewer(account.id, tokens.session_id, Role.USER)


async def test_wrong_credentials_get_one_generic_answer(
    auth: SuperTokensAuth, core: FakeSuperTokensCore
) -> None:
    person, _, _ = await signed_up(auth)
    attempts = [
        (person.email, "not the password"),
        (person.username, "not the password"),
        (f"nobody_{uuid.uuid4().hex[:12]}", PASSWORD),
        (f"nobody_{uuid.uuid4().hex[:12]}@example.com", PASSWORD),
        ("not a username!", PASSWORD),
    ]
    start = len(core.calls)
    for identifier, password in attempts:
        with pytest.raises(Unauthenticated) as error:
            await auth.sign_in(identifier=identifier, password=password, client=client())
        assert error.value.message == INVALID_CREDENTIALS
    # The unknown email was checked by the core too: the same work as for a known one.
    assert core.paths(start).count("POST /recipe/signin") == 3


async def test_failed_sign_ins_lock_the_account_whatever_it_is_called(
    auth: SuperTokensAuth,
) -> None:
    person, _, _ = await signed_up(auth)
    spellings = [person.username, person.email, person.email.upper(), person.username.upper()]
    for attempt in range(FAILURES_PER_ACCOUNT.limit):
        with pytest.raises(Unauthenticated):
            await auth.sign_in(
                identifier=spellings[attempt % 4], password=f"guess {attempt}!", client=client()
            )
    for identifier in spellings:  # even with the right password, from anywhere
        with pytest.raises(RateLimited):
            await auth.sign_in(identifier=identifier, password=PASSWORD, client=client())


async def test_no_second_factor_through_supertokens(
    auth: SuperTokensAuth, container: Container
) -> None:
    person, account, tokens = await signed_up(auth)
    with pytest.raises(Unauthenticated):
        await auth.complete_sign_in(
            mfa_token="x", code="123456", recovery_code=None, client=client()
        )

    # An account that turned TOTP on is refused rather than let in on the password alone.
    viewer = (await auth.authenticate(tokens.access_token)).viewer
    setup = await container.services.mfa.enroll(viewer)
    await container.services.mfa.confirm(viewer, pyotp.TOTP(setup.secret).now())
    with pytest.raises(Unauthenticated) as refused_sign_in:
        await auth.sign_in(identifier=person.email, password=PASSWORD, client=client())
    assert "second factor" in refused_sign_in.value.message
    assert account.id == viewer.user_id


# -- tokens and sessions ------------------------------------------------------------------------


async def test_anything_but_a_live_session_token_is_refused(
    auth: SuperTokensAuth, core: FakeSuperTokensCore
) -> None:
    _, account, tokens = await signed_up(auth)
    header, _payload, signature = tokens.access_token.split(".")
    claims = jwt.decode(tokens.access_token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(tokens.access_token)["kid"]
    forger = rsa.generate_private_key(65537, key_size=2048)
    forged_claims = claims | {"fg_uid": account.id + 1, "fg_role": "admin"}
    tampered_payload = jwt.encode(forged_claims, forger, algorithm="RS256").split(".")[1]
    forgeries = [
        "",
        "not a token",
        f"{header}.{tampered_payload}.{signature}",
        jwt.encode(forged_claims, forger, algorithm="RS256", headers={"kid": kid, "version": "5"}),
        jwt.encode(forged_claims, "s" * 32, algorithm="HS256", headers={"kid": kid}),
    ]
    for forged in forgeries:
        await refused(auth, forged)

    core.access_token_validity_s = -10  # the core issues already expired tokens
    try:
        _, expired = await auth.sign_in(
            identifier=account.email, password=PASSWORD, client=client()
        )
    finally:
        core.access_token_validity_s = 3600
    await refused(auth, expired.access_token)
    # A socket whose token expires while it is open is told to reconnect.
    live = await auth.authenticate(tokens.access_token)
    with pytest.raises(Unauthenticated):
        await auth.ensure_live(replace(live, expires_at=datetime.now(UTC)))

    # A session another application made on the same core carries none of our claims.
    user = core.user_by_email(account.email)
    assert user is not None
    foreign = await create_new_session_without_request_response("public", RecipeUserId(user.id))
    await refused(auth, foreign.get_access_token())


async def test_refresh_rotates_and_a_replaced_refresh_token_ends_the_session(
    auth: SuperTokensAuth, core: FakeSuperTokensCore
) -> None:
    _, account, tokens = await signed_up(auth)
    start = len(core.calls)
    same_account, refreshed = await auth.refresh(tokens.refresh_token)

    assert same_account == account
    assert core.paths(start) == ["POST /recipe/session/refresh", "POST /recipe/session/verify"]
    assert refreshed.session_id == tokens.session_id
    assert refreshed.refresh_token != tokens.refresh_token
    assert refreshed.access_token != tokens.access_token
    assert refreshed.anti_csrf == tokens.anti_csrf  # one per session
    claims = jwt.decode(refreshed.access_token, options={"verify_signature": False})
    assert claims["parentRefreshTokenHash1"] is None  # promoted already

    start = len(core.calls)
    viewer = (await auth.authenticate(refreshed.access_token)).viewer
    assert viewer == Viewer(account.id, tokens.session_id, Role.USER)
    assert core.paths(start) == []  # verified locally, with the core's cached keys

    with pytest.raises(Unauthenticated) as reuse:
        await auth.refresh(tokens.refresh_token)
    assert "reused" in reuse.value.message
    assert core.session(tokens.session_id) is None
    assert await refused(auth, refreshed.access_token) == "session revoked"
    with pytest.raises(Unauthenticated):
        await auth.refresh(refreshed.refresh_token)
    with pytest.raises(Unauthenticated):
        await auth.refresh("never issued")


async def test_the_role_comes_from_our_table_and_reaches_the_token_at_refresh(
    auth: SuperTokensAuth, db: asyncpg.Pool, core: FakeSuperTokensCore
) -> None:
    _, account, tokens = await signed_up(auth)
    await db.execute("UPDATE users SET role = 'moderator' WHERE id = $1", account.id)

    start = len(core.calls)
    moderator, refreshed = await auth.refresh(tokens.refresh_token)
    assert moderator.role is Role.MODERATOR
    assert "POST /recipe/session/regenerate" in core.paths(start)
    viewer = (await auth.authenticate(refreshed.access_token)).viewer
    assert viewer == Viewer(account.id, tokens.session_id, Role.MODERATOR)

    start = len(core.calls)
    _, again = await auth.refresh(refreshed.refresh_token)
    assert "POST /recipe/session/regenerate" not in core.paths(start)  # the core kept it
    assert (await auth.authenticate(again.access_token)).viewer.role is Role.MODERATOR


async def test_sign_out_refuses_the_token_at_once_and_tells_the_hubs(
    auth: SuperTokensAuth, container: Container, core: FakeSuperTokensCore
) -> None:
    _, account, tokens = await signed_up(auth)
    authenticated = await auth.authenticate(tokens.access_token)
    viewer = authenticated.viewer
    prefix = container.settings.nats_subject_prefix
    subscription = await container.nats.subscribe(f"{prefix}.user.{account.id}")
    try:
        await auth.sign_out(viewer)
        message = await subscription.next_msg(timeout=5)
    finally:
        await subscription.unsubscribe()

    assert orjson.loads(message.data) == {
        "type": "session.revoked",
        "sessionIds": [tokens.session_id],
    }
    assert await refused(auth, tokens.access_token) == "session revoked"
    with pytest.raises(Unauthenticated):  # a socket authenticated before stops too
        await auth.ensure_live(authenticated)
    assert core.session(tokens.session_id) is None
    with pytest.raises(Unauthenticated):
        await auth.refresh(tokens.refresh_token)


async def test_sessions_are_listed_revoked_one_by_one_or_everywhere(
    auth: SuperTokensAuth,
) -> None:
    person, account, first = await signed_up(auth, user_agent="phone")
    laptop = client("laptop")
    _, second = await auth.sign_in(identifier=person.username, password=PASSWORD, client=laptop)
    viewer = (await auth.authenticate(first.access_token)).viewer

    sessions = {session.id: session for session in await auth.list_sessions(viewer)}
    assert set(sessions) == {first.session_id, second.session_id}
    assert sessions[second.session_id].user_agent == "laptop"
    assert sessions[second.session_id].ip == laptop.ip
    assert sessions[first.session_id].user_agent == "phone"
    assert all(s.user_id == account.id and s.revoked_at is None for s in sessions.values())

    _, _, someone_elses = await signed_up(auth)
    for not_mine in (someone_elses.session_id, str(uuid.uuid4())):
        with pytest.raises(NotFound):
            await auth.revoke_session(viewer, not_mine)
    await auth.authenticate(someone_elses.access_token)

    await auth.revoke_session(viewer, second.session_id)
    await refused(auth, second.access_token)
    assert [s.id for s in await auth.list_sessions(viewer)] == [first.session_id]

    _, third = await auth.sign_in(identifier=person.email, password=PASSWORD, client=client())
    assert await auth.sign_out_everywhere(viewer) == 2
    await refused(auth, first.access_token)
    await refused(auth, third.access_token)
    assert await auth.list_sessions(viewer) == []


async def test_deleting_a_user_deletes_its_mapping(auth: SuperTokensAuth, db: asyncpg.Pool) -> None:
    _, account, _ = await signed_up(auth)
    await db.execute("DELETE FROM users WHERE id = $1", account.id)
    remaining = await db.fetchval(
        "SELECT count(*) FROM external_auth_users WHERE user_id = $1", account.id
    )
    assert remaining == 0


def test_the_sdk_is_set_up_once_per_process(
    container: Container, core: FakeSuperTokensCore
) -> None:
    init_supertokens(SuperTokensCore(core.url, API_KEY), app_name="again", api_domain=core.url)
    with pytest.raises(RuntimeError, match="another SuperTokens core"):
        init_supertokens(
            SuperTokensCore("http://127.0.0.1:9", API_KEY), app_name="x", api_domain=core.url
        )


# -- the rest of Fowergram, over HTTP ---------------------------------------------------------


@pytest.fixture(scope="module")
def server(settings_st: Settings, container: Container) -> Iterator[LiveServer]:
    with LiveServer(create_app(settings_st), settings_st) as running:
        yield running


def _cookies(response_cookies: list[str]) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response_cookies:
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


def test_rest_and_graphql_cannot_tell_the_difference(
    server: LiveServer, core: FakeSuperTokensCore
) -> None:
    person = new_person()
    with http_client(server.http_url) as http:
        body = sign_up(http, person)
        assert core.user_by_email(person.email) is not None
        headers = bearer(body["accessToken"])
        me = graphql_data(graphql(http, ME, headers=headers))["me"]
        assert (me["id"], me["username"], me["role"]) == (
            body["user"]["id"],
            person.username,
            "user",
        )

        wrong = http.post("/auth/signin", json={"identifier": person.email, "password": "nope!!!!"})
        assert error_of(wrong, 401) == {
            "message": INVALID_CREDENTIALS,
            "extensions": {"code": "UNAUTHENTICATED"},
        }
        again = http.post("/auth/signup", json=person.sign_up_body())
        assert error_of(again, 409)["extensions"] == {"code": "CONFLICT", "field": "username"}

        assert http.post("/auth/signout", headers=headers).status_code == 200
        after = graphql(http, ME, headers=headers)
        assert after.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

        # Cookie mode: a write needs the session's anti-CSRF token, as with the built-in auth.
        cookie_mode = {"x-auth-mode": "cookie"}
        signed_in = http.post(
            "/auth/signin",
            json={"identifier": person.username, "password": PASSWORD},
            headers=cookie_mode,
        )
        anti_csrf = session_of(signed_in)["antiCsrf"]
        access = _cookies(signed_in.headers.get_list("set-cookie"))["fg_access"]
        http.cookies.clear()
        cookie = {"cookie": f"fg_access={access}"}
        forbidden = http.post("/auth/signout", headers=cookie)
        assert error_of(forbidden, 403)["extensions"] == {"code": "FORBIDDEN"}
        allowed = http.post("/auth/signout", headers=cookie | {"x-csrf-token": anti_csrf})
        assert allowed.status_code == 200, allowed.text
        assert sign_in(http, person.email)["user"]["username"] == person.username


async def test_password_reset_and_social_sign_in_are_off_with_supertokens(
    auth: SuperTokensAuth, container: Container
) -> None:
    """SuperTokens holds the passwords: a reset here would report success and change
    nothing (the old password would keep working), so it is refused outright."""
    person, _, _ = await signed_up(auth)
    with pytest.raises(Forbidden):
        await container.services.recovery.request_password_reset(person.email, client())
    with pytest.raises(Forbidden):
        await container.services.recovery.reset_password("any-token", "a new passphrase!")
    assert container.services.social is None
