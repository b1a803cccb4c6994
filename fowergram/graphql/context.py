"""Per-request GraphQL context: the domain services a resolver may call (never raw
clients), built fresh per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.websockets import WebSocket

if TYPE_CHECKING:
    from fowergram.container import Services


@dataclass(slots=True)
class Context:
    request: Request | WebSocket
    services: Services
