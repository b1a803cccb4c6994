"""The GraphQL ASGI view: orjson, context from the composition root, offline GraphiQL."""

from __future__ import annotations

from contextvars import ContextVar
from pathlib import Path
from typing import Any

import orjson
import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types.graphql import OperationType

from fowergram.domain.errors import DomainError
from fowergram.graphql.context import Context
from fowergram.graphql.persisted_queries import (
    PersistedQueryError,
    PersistedQueryStore,
    resolve_persisted,
)
from fowergram.http.auth_transport import (
    ACCESS_COOKIE,
    StaleSessionCookie,
    authenticate,
    clear_session_cookies,
)
from fowergram.http.errors import error_response
from fowergram.http.responses import JSONResponse

STATIC_DIR = Path(__file__).parent / "static"
# The request's persisted-query store, for parse_http_body (which only sees an adapter).
_persisted_store: ContextVar[PersistedQueryStore | None] = ContextVar(
    "persisted_store", default=None
)
GRAPHIQL_ASSETS_PATH = "/static/graphiql"
_POST_OPERATIONS = OperationType.from_http("POST")


def render_graphiql_page(endpoint: str) -> str:
    template = (STATIC_DIR / "graphiql.html").read_text()
    return template.replace("{{ASSETS}}", GRAPHIQL_ASSETS_PATH).replace("{{ENDPOINT}}", endpoint)


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        schema: strawberry.Schema,
        *,
        graphiql: bool,
    ) -> None:
        # HTTP only: sockets at /graphql are served by the realtime hub's endpoint.
        super().__init__(
            schema,
            graphql_ide="graphiql" if graphiql else None,
            allow_queries_via_get=True,
            subscription_protocols=(),
        )
        self._graphiql_page = render_graphiql_page("/graphql") if graphiql else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        stale_cookie = False
        try:
            # Who is asking is settled before GraphQL runs: a bad bearer token is a 401 for
            # the whole request (the client refreshes), not an error inside `data`.
            request.state.auth = await authenticate(
                request, request.state.container.services.auth, request.method
            )
        except StaleSessionCookie:
            # A dead cookie must not lock a browser out (it cannot delete it): go on as
            # anonymous, so signIn works, and clear it in the answer.
            request.state.auth, stale_cookie = None, True
        except DomainError as error:
            await error_response(error)(scope, receive, send)
            return
        # Strawberry answers protocol errors in plain text; clients parse JSON errors.
        store = _persisted_store.set(request.state.container.persisted_queries)
        try:
            response = await self._json_post(request)
            if response is None:
                response = await self.run(request)
        except HTTPException as exc:
            response = JSONResponse(
                {"errors": [{"message": exc.reason, "extensions": {"code": "BAD_REQUEST"}}]},
                status_code=exc.status_code,
            )
        except PersistedQueryError as exc:
            # Apollo clients read this from a 200 and retry with the document.
            response = JSONResponse(
                {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]},
                status_code=200 if exc.code.startswith("PERSISTED_QUERY") else 400,
            )
        finally:
            _persisted_store.reset(store)
        if stale_cookie and ACCESS_COOKIE not in response.headers.get("set-cookie", ""):
            clear_session_cookies(response, secure=request.state.container.settings.is_production)
        await response(scope, receive, send)

    async def _json_post(self, request: Request) -> Response | None:
        """One operation POSTed as JSON (nearly every request), answered as Strawberry's
        view answers it but without its general machinery (request adapters, protocol
        checks, content negotiation: ~10% of a small query's CPU); None for anything
        else (GET, batches, uploads, streams, ill-typed fields), which the view serves."""
        media_type = request.headers.get("content-type", "").partition(";")[0]
        if (
            request.method != "POST"
            or media_type.strip() != "application/json"
            or self._get_stream_transport_from_headers(request.headers) is not None
        ):
            return None
        data = self.parse_json(await request.body())  # kept: the view can read it again
        if not isinstance(data, dict):
            return None
        query, variables = data.get("query"), data.get("variables")
        name, extensions = data.get("operationName"), data.get("extensions")
        if not (
            isinstance(query, str | None)
            and isinstance(variables, dict | None)
            and isinstance(name, str | None)
            and isinstance(extensions, dict | None)
        ):
            return None
        asked = GraphQLRequestData(query, variables, name, extensions, protocol="http")
        asked = await resolve_persisted(asked, request.state.container.persisted_queries)
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        try:
            result = await self.schema.execute(
                asked.query,
                variable_values=asked.variables,
                context_value=context,
                operation_name=asked.operation_name,
                allowed_operation_types=_POST_OPERATIONS,
                operation_extensions=asked.extensions,
            )
        except CannotGetOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason()) from exc
        except InvalidOperationTypeError as exc:
            raise HTTPException(400, exc.as_http_error_reason("POST")) from exc
        except MissingQueryError as exc:
            raise HTTPException(400, "No GraphQL query found in the request") from exc
        response_data = await self.process_result(request, result)
        if result.errors:
            self._handle_errors(result.errors, response_data)  # the view's hook, as it calls it
        return self.create_response(response_data, sub_response)

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET carrying only a persisted query's hash is a query, not a visit.
        return (
            super().should_render_graphql_ide(request)
            and request.query_params.get("extensions") is None
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        store = _persisted_store.get()
        if store is None or isinstance(data, list):
            return data
        return await resolve_persisted(data, store)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        services = request.state.container.services
        auth = request.state.auth
        return Context(
            request=request,
            services=services,
            viewer=auth.viewer if auth else None,
            response=response if isinstance(response, Response) else None,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._graphiql_page)

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = Response(orjson.dumps(response_data), media_type="application/json")
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    def parse_json(self, data: str | bytes) -> Any:
        # orjson rejects invalid UTF-8 as malformed JSON too (json.loads would raise
        # UnicodeDecodeError, a 500); a bare string or number is no GraphQL request.
        try:
            value = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise HTTPException(400, "Unable to parse request body as JSON") from exc
        if not isinstance(value, dict | list):
            raise HTTPException(400, "A GraphQL request must be a JSON object")
        return value
