"""Subscriptions pushed: each live event answered on the fan-out's own turn, with no
execution, no task and no chain of generators per socket.

graphql-core runs a subscription as a task per socket waiting at the end of a chain of
async generators; each event wakes the task, walks the chain, and replaces the ~60
objects a waiting socket holds (which the collector must then find: at thousands of
sockets, most of its work). When a subscription's root field is registered here and its
selection compiles to a projection (`event_projection`: plain attributes only), the hub
instead validates the document once (with the schema's own rules and limits), opens the
socket's feed with a listener, and turns each live message into the field's value,
projects it and writes the frame, synchronously.

With a resume point the field's `catch_up` reads what was missed, page by page, after
the feed is registered (`resume.py`'s rule): those values are sent first, then the live
ones that are not among them.

Anything else runs the ordinary way (`operations.run_operation`): a field not
registered, a selection that does not compile, no viewer, or a subscription that fails
before its first frame (a session no longer live, a bad resume point, one older than
what is kept): the ordinary path meets the same failure and reports it as it always has.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    get_operation_ast,
    parse,
    specified_rules,
    validate,
)
from graphql.execution.values import get_argument_values, get_variable_values

from fowergram.graphql.event_projection import EventPlan, compile_event, project_event
from fowergram.graphql.lean_executor import plain_field_plans
from fowergram.graphql.schema import FowergramSchema
from fowergram.graphql.selection_code import FAILED
from fowergram.realtime.connection import Connection
from fowergram.realtime.live_feed import LiveFeed
from fowergram.realtime.protocol import Subscribe

log = logging.getLogger(__name__)
COMPILED_DOCUMENTS = 512


@dataclass(frozen=True, slots=True)
class PushedField:
    """A root subscription field that can be pushed."""

    kind: str  # the type of the live messages it follows (its LiveFeed's kind)
    # A live message -> the field's value (KeyError, TypeError or ValueError: malformed).
    value_of: Callable[[dict[str, Any]], Any]
    # (arguments, viewer's user id, services) -> the values missed since the resume point
    # in the arguments, a page at a time; None without one. Raises if it is refused.
    catch_up: Callable[[Mapping[str, Any], int, Any], AsyncIterator[list[Any]] | None]
    # What makes two values the same item (a live one already sent by the catch-up).
    identity: Callable[[Any], Hashable]


@dataclass(frozen=True, slots=True)
class PushPlan:
    field: PushedField
    operation: OperationDefinitionNode
    root: FieldNode
    event: EventPlan


@dataclass(frozen=True, slots=True)
class Push:
    """One subscription to push: its document's plan and its arguments."""

    plan: PushPlan
    arguments: dict[str, Any]


class Pusher:
    def __init__(self, schema: FowergramSchema, fields: Mapping[str, PushedField]) -> None:
        self._core = schema._schema
        self._rules = (*specified_rules, *schema.validation_rules)
        self._max_tokens = schema.max_tokens
        self._plans = plain_field_plans(self._core, schema.config.default_resolver)
        self._fields = fields
        self.compiled = lru_cache(maxsize=COMPILED_DOCUMENTS)(self._compile)

    def _compile(self, query: str, operation_name: str | None) -> PushPlan | None:
        try:
            document = parse(query, max_tokens=self._max_tokens)
        except GraphQLError:
            return None
        if validate(self._core, document, self._rules):
            return None
        operation = get_operation_ast(document, operation_name)
        if operation is None or operation.operation != OperationType.SUBSCRIPTION:
            return None
        selections = operation.selection_set.selections
        if len(selections) != 1 or not isinstance(selections[0], FieldNode):
            return None
        root = selections[0]
        field = self._fields.get(root.name.value)
        if field is None:
            return None
        # No fragments: a selection that uses them runs the ordinary way.
        event = compile_event(operation, self._core.subscription_type, self._plans, {})
        if event is None:
            return None
        return PushPlan(field, operation, root, event)

    def plan(self, connection: Connection, message: Subscribe) -> Push | None:
        """How `message` is pushed on `connection`, or None: it runs the ordinary way."""
        if connection.viewer is None:
            return None
        plan = self.compiled(message.query, message.operation_name)
        subscription_type = self._core.subscription_type
        if plan is None or subscription_type is None:
            return None
        coerced = get_variable_values(
            self._core, plan.operation.variable_definitions or (), message.variables or {}
        )
        if isinstance(coerced, list):
            return None  # bad variables: the ordinary path reports them
        try:
            arguments = get_argument_values(
                subscription_type.fields[plan.root.name.value], plan.root, coerced
            )
        except GraphQLError:
            return None
        return Push(plan, arguments)


class PushedOperation:
    """One socket's pushed subscription. Its feed is registered at once; messages wait in
    it while the session is checked and what was missed is `replay`ed, then `go` answers
    each as it arrives (skipping the ones the replay sent)."""

    __slots__ = (
        "_connection",
        "_event",
        "_failed",
        "_feed",
        "_identity",
        "_prefix",
        "_replayed",
        "_value_of",
    )

    def __init__(self, connection: Connection, op_id: str, plan: PushPlan) -> None:
        self._connection = connection
        self._event = plan.event
        self._value_of = plan.field.value_of
        self._identity = plan.field.identity
        self._replayed: set[Hashable] | None = None
        self._prefix = connection.dialect.next_prefix(op_id)
        # When a value breaks the schema (a null where none is allowed: a server fault),
        # the whole field is nulled with one masked error (graphql-core would null the
        # nearest nullable parent and name its path; the client learns the same).
        self._failed = orjson.dumps(
            {
                "data": {plan.event.key: None} if plan.event.nullable else None,
                "errors": [
                    {
                        "message": "internal error",
                        "path": [plan.event.key],
                        "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                    }
                ],
            }
        )
        self._feed: LiveFeed = connection.open_feed(plan.field.kind)

    def replay(self, values: list[Any]) -> None:
        """Send values read from storage (missed while away), before any live one."""
        replayed = self._replayed
        if replayed is None:
            replayed = self._replayed = set()
        for value in values:
            replayed.add(self._identity(value))
            self._send(value)

    def go(self) -> None:
        feed = self._feed
        for message in feed.take_pending():
            self._on_message(message)
        feed.listener = self._on_message

    def cancel(self) -> None:
        self._feed.listener = None  # the feed -> this -> the feed: no cycle left behind
        self._connection.drop_feed(self._feed)

    def _on_message(self, message: dict[str, Any]) -> None:
        try:
            value = self._value_of(message)
        except (KeyError, TypeError, ValueError):
            log.warning("malformed live message dropped", extra={"kind": self._feed.kind})
            return
        if self._replayed is not None and self._identity(value) in self._replayed:
            return  # committed before the catch-up read, published after: sent already
        self._send(value)

    def _send(self, value: Any) -> None:
        data = project_event(self._event, value)
        if data is FAILED:
            log.error("a pushed event broke the schema", extra={"kind": self._feed.kind})
            payload = self._failed
        else:
            payload = orjson.dumps({"data": data})
        self._connection.push(self._prefix + payload + b"}")
