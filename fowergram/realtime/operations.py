"""Running one GraphQL operation of a socket: a query, a mutation or a subscription."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import aclosing
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from fowergram.graphql.context import Context
from fowergram.realtime.connection import Connection
from fowergram.realtime.protocol import Subscribe

log = logging.getLogger(__name__)


def _payload(result: ExecutionResult) -> dict[str, Any]:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return payload


async def run_operation(
    schema: strawberry.Schema,
    connection: Connection,
    message: Subscribe,
    make_context: Callable[[Connection], Context],
) -> None:
    """Stream the operation's results as `next` frames, then `complete`; errors before
    execution (parse, validation) end it with one `error` frame. Cancelled when the
    client completes it or the socket closes: nothing more is sent then."""
    dialect, op_id = connection.dialect, message.id
    context = make_context(connection)
    try:
        source = await schema.stream(
            message.query,
            variable_values=message.variables,
            context_value=context,
            operation_name=message.operation_name,
            operation_extensions=message.extensions,
        )
        async with aclosing(source):
            first = True
            async for result in source:
                if first and isinstance(result, PreExecutionError):
                    errors = [error.formatted for error in result.errors or ()]
                    connection.push(dialect.error(op_id, errors))
                    return
                if not isinstance(result, ExecutionResult):
                    refused = GraphQLError("incremental delivery is not supported over sockets")
                    connection.push(dialect.error(op_id, [refused.formatted]))
                    return
                connection.push(dialect.next(op_id, _payload(result)))
                first = False
        connection.push(dialect.complete(op_id))
    except Exception:
        log.exception("socket operation failed", extra={"operation_id": op_id})
        failure = GraphQLError("internal error", extensions={"code": "INTERNAL_SERVER_ERROR"})
        connection.push(dialect.error(op_id, [failure.formatted]))
    finally:
        # graphql-core's executor keeps the context in a cycle with itself: do not let
        # that cycle hold the socket (and uvicorn's protocol) until a full collection.
        context.live = None
        context.request = None
        # The id is free again, unless the client already reused it for a new operation.
        if connection.operations.get(op_id) is asyncio.current_task():
            del connection.operations[op_id]
