"""Who a socket says it is, from its `connection_init` payload: {"authorization": "Bearer …"},
or {"ticket": …} from POST /auth/socket-ticket (browsers in cookie mode), or nobody.

The credentials are checked by signature and times only: the sessions of the sockets
admitted together are checked against revocations in one look-up (`admission`)."""

from __future__ import annotations

from typing import Any, Protocol

from fowergram.domain.auth.provider import AuthProvider
from fowergram.domain.auth.service import Authenticated
from fowergram.domain.errors import DomainError


class SocketRejected(Exception):
    """Credentials were offered and are not good: the socket closes with 4403."""


class TicketRedeemer(Protocol):
    async def redeem(self, ticket: str) -> str | None: ...


async def socket_credentials(
    params: dict[str, Any], auth: AuthProvider, tickets: TicketRedeemer
) -> Authenticated | None:
    credentials = params.get("authorization")
    ticket = params.get("ticket")
    if credentials is None and ticket is None:
        return None  # an anonymous socket: public reads only
    if ticket is not None:
        redeemed = await tickets.redeem(str(ticket))
        if redeemed is None:
            raise SocketRejected("unknown, used or expired ticket")
        credentials = f"Bearer {redeemed}"
    scheme, _, token = str(credentials).partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SocketRejected("authorization must be 'Bearer <token>'")
    try:
        return await auth.credentials(token.strip())
    except DomainError as error:
        raise SocketRejected(error.message) from None
