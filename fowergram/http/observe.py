"""One ASGI middleware for every request and socket: ids, access log line, metrics.

HTTP requests get a request id (echoed as X-Request-ID), in every log line written while
they are handled. The hub's WebSockets do not pass through the app: their transport
(realtime/ws_transport.py) gives each a connection id and counts them. Pure ASGI (not
BaseHTTPMiddleware): it sits on every request's hot path.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fowergram.observability.logs import request_id_var
from fowergram.observability.metrics import Metrics
from fowergram.observability.trace_ids import next_trace_id

log = logging.getLogger("fowergram.access")

_CLIENT_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._-]{1,64}$")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _CLIENT_REQUEST_ID.match(value):
            client_id: str = value.decode()
            return client_id
    return next_trace_id()


def _route_template(scope: Scope) -> str:
    # Unmatched paths share one label: arbitrary URLs must not grow the metric's cardinality.
    path: str | None = getattr(scope.get("route"), "path", None)
    return path or "unmatched"


class ObserveRequests:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._observe_http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _observe_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _request_id(scope)
        token = request_id_var.set(request_id)
        status = 500
        header = (b"x-request-id", request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        metrics = self.metrics
        metrics.http_in_flight.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            metrics.http_in_flight.dec()
            route, method, code = _route_template(scope), scope["method"], str(status)
            metrics.http_requests.labels(route, method, code).inc()
            metrics.http_latency.labels(route, method, code).observe(elapsed)
            log.info(
                "request",
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)
