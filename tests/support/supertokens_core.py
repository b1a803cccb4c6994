"""A stand-in for the SuperTokens core (a Java service that cannot run here), over real HTTP.

It answers the Core Driver Interface as documented for CDI 5.x (`api_spec.yaml` in
github.com/supertokens/core-driver-interface; supertokens-python 0.31 speaks CDI 5.4), for the
calls supertokens-python makes in Fowergram's flows, with the core's session semantics as
implemented in supertokens-core (`session/Session.java`, `session/accessToken/AccessToken.java`):

- access tokens are v5 JWTs (RS256, header `version: "5"`, `kid` "d-…" for the dynamic key or
  "s-…" for the static one) whose payload holds the protected claims (`sub`, `rsub`, `tId`,
  `iat`, `exp`, `sessionHandle`, `refreshTokenHash1`, `parentRefreshTokenHash1`,
  `antiCsrfToken`, always present, null when unset) beside the caller's `userDataInJWT`;
- refresh tokens rotate: the session keeps `refreshTokenHash2 = sha256(sha256(token))` of the
  current parent; a child becomes the parent when its access token is verified or when it is
  itself used to refresh; presenting an older token answers TOKEN_THEFT_DETECTED.

What is not modelled: multiple apps/tenants (everything is the `public` tenant), user id
mapping, account linking, email verification, signing-key rotation. Every request is recorded
in `calls` (method, path without the tenant prefix, status), so tests can assert what the SDK
actually sent; unknown paths answer 404 "Not Found" as the core does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from fowergram.embedded.process import free_port

CDI_VERSIONS = ["3.0", "3.1", "4.0", "5.0", "5.1", "5.2", "5.3", "5.4"]
TENANT = "public"
# Answered without the API key, as the core does (its JWKS is public; the SDK fetches it
# with plain `requests`, sending no api-key header).
PUBLIC_PATHS = frozenset({"/.well-known/jwks.json", "/apiversion"})


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class CoreUser:
    id: str
    email: str
    password: str
    time_joined: int

    def json(self) -> dict[str, Any]:
        """`authRecipeUser` (CDI 4.0+)."""
        return {
            "id": self.id,
            "isPrimaryUser": False,
            "tenantIds": [TENANT],
            "timeJoined": self.time_joined,
            "emails": [self.email],
            "phoneNumbers": [],
            "thirdParty": [],
            "loginMethods": [
                {
                    "tenantIds": [TENANT],
                    "recipeUserId": self.id,
                    "verified": False,
                    "timeJoined": self.time_joined,
                    "recipeId": "emailpassword",
                    "email": self.email,
                }
            ],
        }


@dataclass
class CoreSession:
    handle: str
    user_id: str
    jwt_data: dict[str, Any]
    db_data: dict[str, Any]
    refresh_hash2: str
    expiry_ms: int
    created_ms: int

    def json(self) -> dict[str, Any]:
        """The `session` schema."""
        return {
            "handle": self.handle,
            "userId": self.user_id,
            "recipeUserId": self.user_id,
            "userDataInJWT": self.jwt_data,
            "tenantId": TENANT,
        }


@dataclass(frozen=True)
class _RefreshInfo:
    session_handle: str
    parent_hash1: str | None  # sha256 of the refresh token this one replaced
    anti_csrf: str | None


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int


@dataclass
class _State:
    users: dict[str, CoreUser] = field(default_factory=dict)
    sessions: dict[str, CoreSession] = field(default_factory=dict)
    refresh_tokens: dict[str, _RefreshInfo] = field(default_factory=dict)


class FakeSuperTokensCore:
    def __init__(
        self,
        *,
        api_key: str | None = None,
        access_token_validity_s: int = 3600,
        refresh_token_validity_s: int = 100 * 24 * 3600,
    ) -> None:
        self.api_key = api_key
        self.access_token_validity_s = access_token_validity_s
        self.refresh_token_validity_ms = refresh_token_validity_s * 1000
        self.calls: list[Call] = []
        self.cdi_versions_seen: set[str] = set()
        self._state = _State()
        # One static ("s-") and one dynamic ("d-") signing key, as the core keeps.
        self._keys = {
            f"{prefix}-{uuid.uuid4()}": rsa.generate_private_key(65537, key_size=2048)
            for prefix in ("s", "d")
        }
        self.port = free_port()
        config = uvicorn.Config(
            self._app(), host="127.0.0.1", port=self.port, log_level="warning", log_config=None
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="fake-supertokens", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def __enter__(self) -> FakeSuperTokensCore:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake SuperTokens core did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)

    # -- what tests look at ------------------------------------------------------------------

    def paths(self, since: int = 0) -> list[str]:
        return [f"{call.method} {call.path}" for call in self.calls[since:]]

    def user_by_email(self, email: str) -> CoreUser | None:
        return next((u for u in self._state.users.values() if u.email == email), None)

    def session(self, handle: str) -> CoreSession | None:
        return self._state.sessions.get(handle)

    # -- tokens --------------------------------------------------------------------------------

    def _access_token(
        self,
        session: CoreSession,
        *,
        refresh_hash1: str,
        parent_hash1: str | None,
        anti_csrf: str | None,
        dynamic_key: bool = True,
        expiry_s: int | None = None,
    ) -> dict[str, Any]:
        """A `cookieInfo` holding a v5 access token, as `AccessToken.createNewAccessToken`."""
        now_s = int(time.time())
        exp = expiry_s if expiry_s is not None else now_s + self.access_token_validity_s
        payload = {
            "sub": session.user_id,
            "exp": exp,
            "iat": now_s,
            "tId": TENANT,
            "rsub": session.user_id,
            "sessionHandle": session.handle,
            "refreshTokenHash1": refresh_hash1,
            "parentRefreshTokenHash1": parent_hash1,
            "antiCsrfToken": anti_csrf,
            **session.jwt_data,
        }
        kid = next(k for k in self._keys if k.startswith("d-" if dynamic_key else "s-"))
        token = jwt.encode(
            payload, self._keys[kid], algorithm="RS256", headers={"kid": kid, "version": "5"}
        )
        return {"token": token, "expiry": exp * 1000, "createdTime": now_s * 1000}

    def _refresh_token(
        self, session: CoreSession, parent: str | None, anti_csrf: str | None
    ) -> dict[str, Any]:
        token = f"fake-refresh.{uuid.uuid4().hex}{uuid.uuid4().hex}"
        parent_hash1 = _sha256(parent) if parent is not None else None
        self._state.refresh_tokens[token] = _RefreshInfo(session.handle, parent_hash1, anti_csrf)
        return {"token": token, "expiry": session.expiry_ms, "createdTime": _now_ms()}

    def _verify_jwt(self, token: str) -> dict[str, Any] | None:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(str(kid))
            if key is None:
                return None
            payload: dict[str, Any] = jwt.decode(token, key.public_key(), algorithms=["RS256"])
        except jwt.PyJWTError:
            return None
        return payload

    # -- the app -----------------------------------------------------------------------------

    def _app(self) -> Starlette:
        handlers = {
            ("GET", "/apiversion"): self._apiversion,
            ("GET", "/.well-known/jwks.json"): self._jwks,
            ("POST", "/recipe/signup"): self._signup,
            ("POST", "/recipe/signin"): self._signin,
            ("GET", "/user/id"): self._get_user,
            ("POST", "/user/remove"): self._remove_user,
            ("POST", "/recipe/session"): self._create_session,
            ("GET", "/recipe/session"): self._session_info,
            ("POST", "/recipe/session/verify"): self._verify,
            ("POST", "/recipe/session/refresh"): self._refresh,
            ("POST", "/recipe/session/regenerate"): self._regenerate,
            ("POST", "/recipe/session/remove"): self._remove_sessions,
            ("GET", "/recipe/session/user"): self._user_sessions,
        }

        async def dispatch(request: Request) -> Response:
            # `/appid-<appId>/<tenantId>/…` prefixes are optional; this core has one of each.
            path = "/" + request.path_params["path"]
            path = path.removeprefix("/appid-public").removeprefix(f"/{TENANT}/") or "/"
            if not path.startswith("/"):
                path = "/" + path
            handler = handlers.get((request.method, path))
            if request.headers.get("cdi-version"):
                self.cdi_versions_seen.add(request.headers["cdi-version"])
            needs_key = path not in PUBLIC_PATHS
            if (
                needs_key
                and self.api_key is not None
                and request.headers.get("api-key") != self.api_key
            ):
                response: Response = PlainTextResponse("Invalid API key", status_code=401)
            elif handler is None:
                response = PlainTextResponse("Not Found", status_code=404)
            else:
                body = await request.json() if request.method in {"POST", "PUT"} else {}
                response = JSONResponse(handler(body, dict(request.query_params)))
            self.calls.append(Call(request.method, path, response.status_code))
            return response

        methods = ["GET", "POST", "PUT", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", dispatch, methods=methods)])

    # -- endpoints (request body, query) → JSON ---------------------------------------------------

    def _apiversion(self, _: dict[str, Any], __: dict[str, str]) -> dict[str, Any]:
        return {"versions": CDI_VERSIONS}

    def _jwks(self, _: dict[str, Any], __: dict[str, str]) -> dict[str, Any]:
        keys = []
        for kid, key in self._keys.items():
            numbers = key.public_key().public_numbers()
            keys.append(
                {
                    "kty": "RSA",
                    "kid": kid,
                    "n": _b64url_uint(numbers.n),
                    "e": _b64url_uint(numbers.e),
                    "alg": "RS256",
                    "use": "sig",
                }
            )
        return {"keys": keys}

    def _signup(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        email = str(body["email"]).strip().lower()
        if self.user_by_email(email) is not None:
            return {"status": "EMAIL_ALREADY_EXISTS_ERROR"}
        user = CoreUser(str(uuid.uuid4()), email, str(body["password"]), _now_ms())
        self._state.users[user.id] = user
        return {"status": "OK", "user": user.json(), "recipeUserId": user.id}

    def _signin(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        user = self.user_by_email(str(body["email"]).strip().lower())
        if user is None or user.password != body["password"]:
            return {"status": "WRONG_CREDENTIALS_ERROR"}
        return {"status": "OK", "user": user.json(), "recipeUserId": user.id}

    def _get_user(self, _: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        user = self._state.users.get(query.get("userId", ""))
        if user is None:
            return {"status": "UNKNOWN_USER_ID_ERROR"}
        return {"status": "OK", "user": user.json()}

    def _remove_user(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        user_id = str(body["userId"])
        self._state.users.pop(user_id, None)
        for handle in [h for h, s in self._state.sessions.items() if s.user_id == user_id]:
            del self._state.sessions[handle]
        return {"status": "OK"}

    def _create_session(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        now = _now_ms()
        anti_csrf = str(uuid.uuid4()) if body.get("enableAntiCsrf") else None
        session = CoreSession(
            handle=str(uuid.uuid4()),
            user_id=str(body["userId"]),
            jwt_data=dict(body.get("userDataInJWT") or {}),
            db_data=dict(body.get("userDataInDatabase") or {}),
            refresh_hash2="",
            expiry_ms=now + self.refresh_token_validity_ms,
            created_ms=now,
        )
        refresh = self._refresh_token(session, None, anti_csrf)
        session.refresh_hash2 = _sha256(_sha256(refresh["token"]))
        self._state.sessions[session.handle] = session
        response = {
            "status": "OK",
            "session": session.json(),
            "accessToken": self._access_token(
                session,
                refresh_hash1=_sha256(refresh["token"]),
                parent_hash1=None,
                anti_csrf=anti_csrf,
                dynamic_key=bool(body.get("useDynamicSigningKey", True)),
            ),
            "refreshToken": refresh,
        }
        if anti_csrf is not None:
            response["antiCsrfToken"] = anti_csrf
        return response

    def _session_info(self, _: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        session = self._state.sessions.get(query.get("sessionHandle", ""))
        if session is None or session.expiry_ms < _now_ms():
            return {"status": "UNAUTHORISED", "message": "Session does not exist."}
        return {
            "status": "OK",
            "sessionHandle": session.handle,
            "userId": session.user_id,
            "recipeUserId": session.user_id,
            "userDataInDatabase": session.db_data,
            "userDataInJWT": session.jwt_data,
            "expiry": session.expiry_ms,
            "timeCreated": session.created_ms,
            "tenantId": TENANT,
        }

    def _verify(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        """`Session.getSession`: promote a refreshed session's child token on first use."""
        payload = self._verify_jwt(str(body["accessToken"]))
        if payload is None or payload["exp"] * 1000 < _now_ms():
            return {"status": "TRY_REFRESH_TOKEN", "message": "Access token expired"}
        checks_csrf = body.get("enableAntiCsrf") and body.get("doAntiCsrfCheck")
        if checks_csrf and body.get("antiCsrfToken") != payload.get("antiCsrfToken"):
            return {"status": "TRY_REFRESH_TOKEN", "message": "anti-csrf check failed"}
        session = self._state.sessions.get(payload["sessionHandle"])
        if body.get("checkDatabase") and session is None:
            return {
                "status": "UNAUTHORISED",
                "message": "Either the session has ended or has been blacklisted",
            }
        parent = payload.get("parentRefreshTokenHash1")
        if parent is None:
            return {"status": "OK", "session": self._session_from(payload)}
        if session is None:
            return {"status": "UNAUTHORISED", "message": "Session missing in db"}
        promote = session.refresh_hash2 == _sha256(parent)
        if promote or session.refresh_hash2 == _sha256(payload["refreshTokenHash1"]):
            if promote:
                session.refresh_hash2 = _sha256(payload["refreshTokenHash1"])
                session.expiry_ms = _now_ms() + self.refresh_token_validity_ms
            kid = str(jwt.get_unverified_header(body["accessToken"])["kid"])
            access = self._access_token(
                session,
                refresh_hash1=payload["refreshTokenHash1"],
                parent_hash1=None,
                anti_csrf=payload.get("antiCsrfToken"),
                dynamic_key=kid.startswith("d-"),
            )
            return {"status": "OK", "session": session.json(), "accessToken": access}
        return {"status": "TRY_REFRESH_TOKEN", "message": "refresh token was not promoted"}

    @staticmethod
    def _session_from(payload: dict[str, Any]) -> dict[str, Any]:
        protected = {"sub", "exp", "iat", "tId", "rsub", "sessionHandle", "refreshTokenHash1",
                     "parentRefreshTokenHash1", "antiCsrfToken"}  # fmt: skip
        return {
            "handle": payload["sessionHandle"],
            "userId": payload["sub"],
            "recipeUserId": payload["rsub"],
            "userDataInJWT": {k: v for k, v in payload.items() if k not in protected},
            "tenantId": payload["tId"],
        }

    def _refresh(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        """`Session.refreshSession` / `refreshSessionHelper`."""
        token = str(body["refreshToken"])
        info = self._state.refresh_tokens.get(token)
        if info is None:
            return {"status": "UNAUTHORISED", "message": "Refresh token is invalid"}
        checks_csrf = body.get("enableAntiCsrf") and info.anti_csrf is not None
        if checks_csrf and info.anti_csrf != body.get("antiCsrfToken"):
            message = "Anti CSRF token missing, or not matching"
            return {"status": "UNAUTHORISED", "message": message}
        return self._refresh_helper(token, info, bool(body.get("enableAntiCsrf")), body)

    def _refresh_helper(
        self, token: str, info: _RefreshInfo, enable_anti_csrf: bool, body: dict[str, Any]
    ) -> dict[str, Any]:
        session = self._state.sessions.get(info.session_handle)
        if session is None or session.expiry_ms < _now_ms():
            return {"status": "UNAUTHORISED", "message": "Session missing in db or has expired"}
        if session.refresh_hash2 == _sha256(_sha256(token)):
            anti_csrf = str(uuid.uuid4()) if enable_anti_csrf else None
            child = self._refresh_token(session, token, anti_csrf)
            response = {
                "status": "OK",
                "session": session.json(),
                "accessToken": self._access_token(
                    session,
                    refresh_hash1=_sha256(child["token"]),
                    parent_hash1=_sha256(token),
                    anti_csrf=anti_csrf,
                    dynamic_key=bool(body.get("useDynamicSigningKey", True)),
                ),
                "refreshToken": child,
            }
            if anti_csrf is not None:
                response["antiCsrfToken"] = anti_csrf
            return response
        if info.parent_hash1 is not None and _sha256(info.parent_hash1) == session.refresh_hash2:
            # A child not yet promoted refreshes: it becomes the parent, then refreshes as one.
            session.refresh_hash2 = _sha256(_sha256(token))
            session.expiry_ms = _now_ms() + self.refresh_token_validity_ms
            return self._refresh_helper(token, info, enable_anti_csrf, body)
        return {
            "status": "TOKEN_THEFT_DETECTED",
            "session": {
                "handle": session.handle,
                "userId": session.user_id,
                "recipeUserId": session.user_id,
            },
        }

    def _regenerate(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        """`Session.regenerateToken`: new payload, same refresh hashes and expiry."""
        try:
            payload: dict[str, Any] = jwt.decode(
                str(body["accessToken"]), options={"verify_signature": False}
            )
        except jwt.PyJWTError:
            return {"status": "UNAUTHORISED", "message": "Session does not exist."}
        session = self._state.sessions.get(payload["sessionHandle"])
        if session is None:
            return {"status": "UNAUTHORISED", "message": "Session does not exist."}
        session.jwt_data = dict(body.get("userDataInJWT") or {})
        response: dict[str, Any] = {"status": "OK", "session": session.json()}
        if payload["exp"] * 1000 >= _now_ms():
            response["accessToken"] = self._access_token(
                session,
                refresh_hash1=payload["refreshTokenHash1"],
                parent_hash1=payload.get("parentRefreshTokenHash1"),
                anti_csrf=payload.get("antiCsrfToken"),
                expiry_s=payload["exp"],
            )
        return response

    def _remove_sessions(self, body: dict[str, Any], _: dict[str, str]) -> dict[str, Any]:
        if "sessionHandles" in body:
            handles = [str(h) for h in body["sessionHandles"] if h in self._state.sessions]
        else:
            user_id = str(body["userId"])
            handles = [h for h, s in self._state.sessions.items() if s.user_id == user_id]
        for handle in handles:
            del self._state.sessions[handle]
        return {"status": "OK", "sessionHandlesRevoked": handles}

    def _user_sessions(self, _: dict[str, Any], query: dict[str, str]) -> dict[str, Any]:
        now = _now_ms()
        handles = [
            h
            for h, s in self._state.sessions.items()
            if s.user_id == query.get("userId") and s.expiry_ms >= now
        ]
        return {"status": "OK", "sessionHandles": handles}
