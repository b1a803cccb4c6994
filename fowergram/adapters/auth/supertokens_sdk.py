"""supertokens-python, set up once per process, and the two places where its design leaks.

`supertokens_python.init` does not return an object we could hold and pass on: it fills
process-wide singletons (the `Supertokens` instance, the `Querier`'s core URLs and API key, one
instance per recipe, the JWKS cache) and silently ignores every later call. That is the SDK's
design, not ours, so it is fenced in here: the composition root (`app.py`, through
`supertokens_wiring.supertokens_auth`) calls `init_supertokens` once, before it builds the
adapter. Calling it again for the same core is a no-op (several apps in one process share the
SDK: tests, for one); calling it for a different core raises, rather than silently talking to
the first one.

Recipes: emailpassword (credentials) and session. Anti-CSRF is "NONE" in the SDK: Fowergram's
HTTP layer checks `X-CSRF-Token` itself against the token in the access-token payload, and with
the SDK's "VIA_TOKEN" the core would refuse every refresh that does not echo the anti-CSRF
token, which our refresh endpoint (a path-scoped cookie, like the built-in one) does not carry.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

import jwt
from supertokens_python import InputAppInfo, Supertokens, SupertokensConfig, init
from supertokens_python.exceptions import GeneralError
from supertokens_python.recipe import emailpassword, session
from supertokens_python.recipe.session import jwks
from supertokens_python.recipe.session.recipe import SessionRecipe

TENANT = "public"  # one SuperTokens tenant: Fowergram is not multi-tenant


@dataclass(frozen=True, slots=True)
class SuperTokensCore:
    connection_uri: str  # one URL, or several separated by ';' (the SDK tries each)
    api_key: str | None = None


def init_supertokens(core: SuperTokensCore, *, app_name: str, api_domain: str) -> None:
    """Set up the SDK for `core`, once per process (see the module docstring)."""
    try:
        current: SupertokensConfig | None = Supertokens.get_instance().supertokens_config
    except GeneralError:
        current = None
    if current is not None:
        if (current.connection_uri, current.api_key) != (core.connection_uri, core.api_key):
            raise RuntimeError(
                "supertokens-python is already set up for another SuperTokens core in this "
                "process; its configuration is process-wide and cannot be changed"
            )
        return
    # At init the SDK works out the API's registrable domain (for cookie SameSite rules we do
    # not use) with tldextract, which downloads the Public Suffix List unless told to use the
    # copy it bundles. An operator may still set the variable to 0.
    os.environ.setdefault("SUPERTOKENS_TLDEXTRACT_DISABLE_HTTP", "1")
    init(
        app_info=InputAppInfo(app_name=app_name, api_domain=api_domain, website_domain=api_domain),
        # Required by the signature, used only by the SDK's framework middleware and request
        # wrappers; we call its framework-less functions and mount none of its routes.
        framework="fastapi",
        mode="asgi",
        supertokens_config=SupertokensConfig(
            connection_uri=core.connection_uri, api_key=core.api_key
        ),
        recipe_list=[emailpassword.init(), session.init(anti_csrf="NONE")],
        telemetry=False,
    )


async def prefetch_signing_keys(access_token: str) -> None:
    """Fetch the core's JWKS in a worker thread when the SDK would fetch it on the event loop.

    The SDK verifies access tokens locally; when its key cache is stale (4 h) or a token names
    a key it has not seen (the core's dynamic keys rotate), its *async* `get_session` fetches
    the JWKS with blocking `requests`. Done here first, in a thread, the SDK then finds the
    keys cached and the event loop never waits on the network. Anything odd is left to the
    SDK, which refuses the token.
    """
    try:
        kid = jwt.get_unverified_header(access_token).get("kid")
    except jwt.PyJWTError:
        return
    if not isinstance(kid, str):
        return
    try:
        if jwks.find_matching_keys_in_cache(kid) is not None:
            return
    except Exception:  # "fetched too recently": the SDK will refuse the token
        return
    config = SessionRecipe.get_instance().config
    with contextlib.suppress(Exception):
        await asyncio.to_thread(jwks.get_latest_keys, config, kid)
