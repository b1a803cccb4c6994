"""Who a socket says it is, from its `connection_init` payload: {"authorization": "Bearer …"},
or {"ticket": …} from POST /auth/socket-ticket (browsers in cookie mode), or nobody.

The credentials are checked by signature and times only: the sessions of the sockets
admitted together are checked against revocations in one look-up (`admission`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fowergram.domain.auth.service import Authenticated
from fowergram.domain.errors import DomainError


class SocketAuth(Protocol):
    """What admitting sockets asks of the auth port (`AuthProvider` has these two)."""

    async def credentials(self, access_token: str) -> Authenticated: ...

    async def revoked_among(self, authenticated: Sequence[Authenticated]) -> list[bool]: ...


class SocketRejected(Exception):
    """Credentials were offered and are not good: the socket closes with 4403."""


class TicketRedeemer(Protocol):
    async def redeem(self, ticket: str) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Ticket:
    """A one-time ticket, to redeem for an access token."""

    value: str


def offered(params: dict[str, Any]) -> str | Ticket | None:
    """What the payload offers: an access token, a ticket, or nothing (an anonymous
    socket: public reads only). SocketRejected for an authorization that is not a bearer
    token."""
    credentials = params.get("authorization")
    ticket = params.get("ticket")
    if ticket is not None:
        return Ticket(str(ticket))
    if credentials is None:
        return None
    return bearer_token(str(credentials))


def bearer_token(credentials: str) -> str:
    scheme, _, token = credentials.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise SocketRejected("authorization must be 'Bearer <token>'")
    return token.strip()


async def redeemed(ticket: Ticket, tickets: TicketRedeemer) -> str:
    """The access token a ticket stands for (once: a ticket is used up)."""
    token = await tickets.redeem(ticket.value)
    if token is None:
        raise SocketRejected("unknown, used or expired ticket")
    return token


async def token_credentials(token: str, auth: SocketAuth) -> Authenticated:
    try:
        return await auth.credentials(token)
    except DomainError as error:
        raise SocketRejected(error.message) from None
