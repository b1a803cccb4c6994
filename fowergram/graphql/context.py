"""Per-request GraphQL context: the viewer and the domain services a resolver may call
(never raw clients), built fresh per request or per WebSocket connection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket

from fowergram.domain.auth.service import Authenticated
from fowergram.domain.auth.viewer import Viewer

LoaderT = TypeVar("LoaderT")

if TYPE_CHECKING:
    from fowergram.container import Services
    from fowergram.realtime.live_source import LiveSource


@dataclass(slots=True)
class Context:
    request: Request | WebSocket | None  # None: a stream shared by many sockets
    services: Services
    viewer: Viewer | None = None
    # Sockets authenticate once; this is re-checked on each of their operations.
    socket_auth: Authenticated | None = None
    # DataLoaders of this request (or socket operation), created on first use.
    _loaders: dict[str, Any] = field(default_factory=dict)

    def loader(self, name: str, factory: Callable[[], LoaderT]) -> LoaderT:
        """The request's DataLoader called `name`: every relation is batched per request
        (fresh loaders per request, so nothing is cached across viewers)."""
        if name not in self._loaders:
            self._loaders[name] = factory()
        loader: LoaderT = self._loaders[name]
        return loader

    # The HTTP response being built (cookies set by signIn in cookie mode); None on sockets.
    response: Response | None = None
    # Where a live subscription listens: its socket, or a stream shared by many; None
    # over HTTP.
    live: LiveSource | None = None
