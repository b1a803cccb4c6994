"""Multiplexing: identical subscription operations share one execution and one encoded
payload per event, however many sockets watch.

An operation is shared when its root field is one whose result does not depend on the
viewer (e.g. `postActivity`), and its document, variables and operation name are the
same. Each socket is authorised on joining (as its own viewer); the shared execution
then runs once, and each frame differs only by the socket's operation id. Events caused
by someone are not sent to the sockets of people with a block between them and that
someone (one query per such event, for all its watchers).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from fowergram.graphql.context import Context
from fowergram.realtime.connection import ChannelRouter, Connection
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.protocol import Subscribe

log = logging.getLogger(__name__)

Authorize = Callable[[Mapping[str, Any], Context], Awaitable[None]]
# (actor, viewers) -> the viewers with a block either way with the actor
HiddenFrom = Callable[[int, Collection[int]], Awaitable[set[int]]]
ContextFactory = Callable[["SharedStream"], Context]
SHARED_FEED_FRAMES = 1024
FAN_OUT_BATCH = 500  # sockets sent one event before the loop may run something else


@dataclass(frozen=True, slots=True)
class SharePlan:
    key: tuple[str, bytes, str | None]
    field: str
    arguments: dict[str, Any]


@lru_cache(maxsize=512)
def _document(schema: strawberry.Schema, query: str) -> DocumentNode | None:
    try:
        document = parse(query)
    except GraphQLError:
        return None
    return None if validate(schema._schema, document) else document


def share_plan(
    schema: strawberry.Schema, message: Subscribe, shareable: Collection[str]
) -> SharePlan | None:
    """How `message` can be shared, or None when it must run on its own."""
    document = _document(schema, message.query)
    if document is None:
        return None
    operation = get_operation_ast(document, message.operation_name)
    if not isinstance(operation, OperationDefinitionNode):
        return None
    if operation.operation != OperationType.SUBSCRIPTION:
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    field = selections[0]
    if field.name.value not in shareable or field.directives:
        return None
    subscription_type = schema._schema.subscription_type
    assert subscription_type is not None
    coerced = get_variable_values(
        schema._schema, operation.variable_definitions or (), message.variables or {}
    )
    if isinstance(coerced, list):
        return None  # bad variables: the operation's own run reports them
    try:
        arguments = get_argument_values(subscription_type.fields[field.name.value], field, coerced)
    except GraphQLError:
        return None
    variables = orjson.dumps(message.variables or {}, option=orjson.OPT_SORT_KEYS)
    return SharePlan(
        (message.query, variables, message.operation_name), field.name.value, arguments
    )


@dataclass(slots=True)
class _Subscriber:
    connection: Connection
    op_id: str
    prefix: bytes  # its `next` frames up to the payload (Dialect.next_prefix)


class _Ticket:
    """Stands in a socket's operations for its share: cancelling it leaves the stream."""

    __slots__ = ("_stream", "_subscriber")

    def __init__(self, stream: SharedStream, subscriber: _Subscriber) -> None:
        self._stream = stream
        self._subscriber = subscriber

    def cancel(self) -> None:
        self._stream.remove(self._subscriber)


class SharedStream:
    """One execution of one operation for many sockets; a LiveSource for its resolvers."""

    shared = True

    def __init__(
        self,
        plan: SharePlan,
        message: Subscribe,
        router: ChannelRouter,
        on_empty: Callable[[SharedStream], None],
    ) -> None:
        self.plan = plan
        self._message = message
        self._router = router
        self._on_empty = on_empty
        self.subscribers: dict[tuple[str, str], _Subscriber] = {}
        self._feeds: list[LiveFeed] = []
        self._joined: set[str] = set()
        self._actor: int | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, connection: Connection, op_id: str) -> _Ticket:
        subscriber = _Subscriber(connection, op_id, connection.dialect.next_prefix(op_id))
        self.subscribers[(connection.id, op_id)] = subscriber
        return _Ticket(self, subscriber)

    def remove(self, subscriber: _Subscriber) -> None:
        key = (subscriber.connection.id, subscriber.op_id)
        if self.subscribers.get(key) is subscriber:
            del self.subscribers[key]
        if not self.subscribers:
            self.stop()

    def start(self, run: Callable[[SharedStream], Coroutine[Any, Any, None]]) -> None:
        self._task = asyncio.create_task(run(self))

    def stop(self) -> None:
        self._on_empty(self)
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    # LiveSource, for the resolver running inside the shared execution.
    def open_feed(self, kind: str) -> LiveFeed:
        feed = LiveFeed(kind, SHARED_FEED_FRAMES, lambda: log.warning("shared feed overflow"))
        self._feeds.append(feed)
        return feed

    def drop_feed(self, feed: LiveFeed) -> None:
        feed.close()
        if feed in self._feeds:
            self._feeds.remove(feed)

    def topic(self, kind: str, key: int) -> str:
        return self._router.topic(kind, key)

    async def join(self, channel: str) -> None:
        if channel not in self._joined:
            self._joined.add(channel)
            await self._router.join(channel, self)

    async def leave(self, channel: str) -> None:
        if channel in self._joined:
            self._joined.discard(channel)
            await self._router.leave(channel, self)

    def note_actor(self, actor_id: int | None) -> None:
        self._actor = actor_id

    def deliver(self, channel: str, message: str | bytes) -> None:
        try:
            decoded = orjson.loads(message)
        except orjson.JSONDecodeError:
            return
        if isinstance(decoded, dict):
            for feed in self._feeds:
                if feed.kind == decoded.get("type"):
                    feed.put(decoded)

    def take_actor(self) -> int | None:
        actor, self._actor = self._actor, None
        return actor

    async def leave_all(self) -> None:
        for channel in list(self._joined):
            await self.leave(channel)
        for feed in self._feeds:
            feed.close()

    @property
    def message(self) -> Subscribe:
        return self._message


class Multiplexer:
    def __init__(
        self,
        schema: strawberry.Schema,
        router: ChannelRouter,
        authorizers: Mapping[str, Authorize],
        hidden_from: HiddenFrom,
    ) -> None:
        self._schema = schema
        self._router = router
        self._authorizers = authorizers
        self._hidden_from = hidden_from
        self.streams: dict[tuple[str, bytes, str | None], SharedStream] = {}

    def plan(self, message: Subscribe) -> SharePlan | None:
        return share_plan(self._schema, message, self._authorizers.keys())

    async def join(
        self,
        plan: SharePlan,
        connection: Connection,
        message: Subscribe,
        context: Context,
        make_context: ContextFactory,
    ) -> None:
        """Authorise the socket as its viewer (DomainError if refused), then add it."""
        await self._authorizers[plan.field](plan.arguments, context)
        if connection.closing is not None:
            return
        if connection.operations.get(message.id) is not asyncio.current_task():
            return  # completed by the client while being authorised
        stream = self.streams.get(plan.key)
        if stream is None:
            stream = SharedStream(plan, message, self._router, self._forget)
            self.streams[plan.key] = stream
            connection.operations[message.id] = stream.add(connection, message.id)
            stream.start(lambda s: self._run(s, make_context(s)))
        else:
            connection.operations[message.id] = stream.add(connection, message.id)

    def _forget(self, stream: SharedStream) -> None:
        if self.streams.get(stream.plan.key) is stream:
            del self.streams[stream.plan.key]

    async def _run(self, stream: SharedStream, context: Context) -> None:
        message = stream.message
        try:
            source = await self._schema.subscribe(
                message.query,
                variable_values=message.variables,
                context_value=context,
                operation_name=message.operation_name,
            )
            if isinstance(source, ExecutionResult | PreExecutionError):
                self._end(stream, errors=[e.formatted for e in source.errors or ()])
                return
            async for result in source:
                await self._fan_out(stream, result)
            self._end(stream)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("shared subscription failed")
            self._end(stream, errors=[{"message": "internal error"}])
        finally:
            self._forget(stream)
            await stream.leave_all()

    async def _fan_out(self, stream: SharedStream, result: ExecutionResult) -> None:
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [error.formatted for error in result.errors]
        encoded = orjson.dumps(payload) + b"}"  # once, for every socket
        actor = stream.take_actor()
        hidden: set[int] = set()
        subscribers = list(stream.subscribers.values())
        if actor is not None:
            viewers = {
                s.connection.viewer.user_id for s in subscribers if s.connection.viewer is not None
            }
            if viewers:
                hidden = await self._hidden_from(actor, viewers)
        for count, subscriber in enumerate(subscribers, 1):
            connection = subscriber.connection
            if hidden and connection.viewer is not None and connection.viewer.user_id in hidden:
                continue
            connection.push(subscriber.prefix + encoded)
            if count % FAN_OUT_BATCH == 0:
                # One event to 10,000 sockets is ~0.2 s of sends: let other sockets (reads,
                # pings, other channels) in between batches.
                await asyncio.sleep(0)

    def _end(self, stream: SharedStream, errors: list[Any] | None = None) -> None:
        for subscriber in list(stream.subscribers.values()):
            connection, op_id = subscriber.connection, subscriber.op_id
            if errors:
                connection.push(connection.dialect.error(op_id, errors))
            else:
                connection.push(connection.dialect.complete(op_id))
            ticket = connection.operations.get(op_id)
            if isinstance(ticket, _Ticket):
                del connection.operations[op_id]
        stream.subscribers.clear()
