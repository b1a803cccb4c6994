"""Per-request GraphQL context: the services a resolver may call, built fresh per request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.websockets import WebSocket

if TYPE_CHECKING:
    from fowergram.container import Container


@dataclass(slots=True)
class Context:
    request: Request | WebSocket
    container: Container
