"""TOTP second factor through a real server: enrol, sign in in two steps, recover, disable."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pyotp
import pytest
from support.live_server import LiveServer

from fowergram.adapters.auth.totp import PyOtpTotp

PASSWORD = "correct horse battery"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as http:
        yield http


def _sign_up(client: httpx.Client) -> tuple[str, dict[str, str]]:
    name = f"m{uuid.uuid4().hex[:12]}"
    body = {"email": f"{name}@example.com", "username": name, "password": PASSWORD}
    response = client.post("/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return name, {"authorization": f"Bearer {response.json()['accessToken']}"}


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enable(client: httpx.Client, bearer: dict[str, str]) -> tuple[str, list[str]]:
    setup = client.post("/auth/mfa/totp/enroll", headers=bearer).json()
    confirmed = client.post(
        "/auth/mfa/totp/confirm", json={"code": _code(setup["secret"])}, headers=bearer
    ).json()
    return setup["secret"], confirmed["recoveryCodes"]


def _mfa_token(client: httpx.Client, name: str) -> str:
    response = client.post("/auth/signin", json={"identifier": name, "password": PASSWORD})
    assert response.status_code == 401
    extensions = response.json()["errors"][0]["extensions"]
    assert extensions["code"] == "MFA_REQUIRED"
    return str(extensions["mfaToken"])


def test_enrolment_gives_an_authenticator_uri_and_needs_a_valid_code(
    client: httpx.Client,
) -> None:
    name, bearer = _sign_up(client)
    setup = client.post("/auth/mfa/totp/enroll", headers=bearer).json()
    assert setup["otpauthUri"].startswith("otpauth://totp/")
    assert f"secret={setup['secret']}" in setup["otpauthUri"]
    assert "issuer=fowergram-backend" in setup["otpauthUri"]

    wrong = client.post("/auth/mfa/totp/confirm", json={"code": "000000"}, headers=bearer)
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["extensions"]["field"] == "code"
    # Not on yet: a password alone still signs in.
    signin = client.post("/auth/signin", json={"identifier": name, "password": PASSWORD})
    assert signin.status_code == 200

    ok = client.post(
        "/auth/mfa/totp/confirm", json={"code": _code(setup["secret"])}, headers=bearer
    )
    codes = ok.json()["recoveryCodes"]
    assert len(codes) == len(set(codes)) == 10
    assert all(len(code) == 19 and code.count("-") == 3 for code in codes)
    again = client.post("/auth/mfa/totp/enroll", headers=bearer)
    assert again.status_code == 409


def test_sign_in_takes_a_second_step_and_codes_cannot_be_replayed(client: httpx.Client) -> None:
    name, bearer = _sign_up(client)
    secret, _ = _enable(client, bearer)

    mfa_token = _mfa_token(client, name)
    wrong = client.post("/auth/signin/mfa", json={"mfaToken": mfa_token, "code": "123456"})
    assert wrong.status_code == 400
    # The confirmation used the current step; the next one is within the allowed drift.
    code = _code(secret, steps_ahead=1)
    done = client.post("/auth/signin/mfa", json={"mfaToken": mfa_token, "code": code})
    assert done.status_code == 200, done.text
    assert done.json()["accessToken"]

    used = client.post("/auth/signin/mfa", json={"mfaToken": mfa_token, "code": code})
    assert used.status_code == 401  # the challenge is spent
    replay = client.post(
        "/auth/signin/mfa", json={"mfaToken": _mfa_token(client, name), "code": code}
    )
    assert replay.status_code == 400  # the code's step is spent


def test_recovery_codes_work_once_and_can_turn_mfa_off(client: httpx.Client) -> None:
    name, bearer = _sign_up(client)
    _, codes = _enable(client, bearer)

    first = client.post(
        "/auth/signin/mfa",
        json={"mfaToken": _mfa_token(client, name), "recoveryCode": codes[0].lower()},
    )
    assert first.status_code == 200
    reuse = client.post(
        "/auth/signin/mfa", json={"mfaToken": _mfa_token(client, name), "recoveryCode": codes[0]}
    )
    assert reuse.status_code == 400

    no_factor = client.post("/auth/mfa/totp/disable", json={}, headers=bearer)
    assert no_factor.status_code == 400
    off = client.post("/auth/mfa/totp/disable", json={"recoveryCode": codes[1]}, headers=bearer)
    assert off.json() == {"enabled": False}
    signin = client.post("/auth/signin", json={"identifier": name, "password": PASSWORD})
    assert signin.status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"mfaToken": "forged", "code": "123456"},
        {"mfaToken": 42, "code": "123456"},
        {"code": "123456"},
        {"mfaToken": "x", "code": 123456},
    ],
)
def test_bad_second_steps_are_refused(client: httpx.Client, body: dict[str, object]) -> None:
    response = client.post("/auth/signin/mfa", json=body)
    assert response.status_code in (400, 401)
    assert response.json()["errors"][0]["extensions"]["code"] in (
        "BAD_USER_INPUT",
        "UNAUTHENTICATED",
    )


def test_graphql_sign_in_reports_mfa_required_then_completes(client: httpx.Client) -> None:
    name, bearer = _sign_up(client)
    secret, _ = _enable(client, bearer)
    first = client.post(
        "/graphql",
        json={
            "query": "mutation($i: String!, $p: String!) "
            "{ signIn(identifier: $i, password: $p) { accessToken } }",
            "variables": {"i": name, "p": PASSWORD},
        },
    ).json()
    extensions = first["errors"][0]["extensions"]
    assert extensions["code"] == "MFA_REQUIRED"
    second = client.post(
        "/graphql",
        json={
            "query": "mutation($t: String!, $c: String!) "
            "{ signInSecondFactor(mfaToken: $t, code: $c) { account { username } } }",
            "variables": {"t": extensions["mfaToken"], "c": _code(secret, steps_ahead=1)},
        },
    ).json()
    assert second == {"data": {"signInSecondFactor": {"account": {"username": name}}}}


def test_totp_window_is_one_step_either_side() -> None:
    totp = PyOtpTotp()
    secret = totp.new_secret()
    now = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
    step = pyotp.TOTP(secret).timecode(now)
    for offset, expected in ((-2, None), (-1, step - 1), (0, step), (1, step + 1), (2, None)):
        code = pyotp.TOTP(secret).at(now + timedelta(seconds=30 * offset))
        assert totp.matching_step(secret, code, now) == expected
    for junk in ("", "12345", "1234567", "abcdef", "\uff11\uff12\uff13\uff14\uff15\uff16"):
        assert totp.matching_step(secret, junk, now) is None
