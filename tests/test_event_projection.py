"""Subscription events answered by a compiled projection, in the executor or pushed by the
hub without one, must equal what graphql-core's per-event execution answers (a
differential test), and anything unusual goes its way."""

from __future__ import annotations

import asyncio
import types
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
import strawberry
from graphql import OperationDefinitionNode, parse
from support.recording_wire import RecordingWire

from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.graphql.context import Context
from fowergram.graphql.event_projection import compile_event
from fowergram.graphql.lean_executor import lean_executor, plain_field_plans
from fowergram.graphql.live.notifications import notification_value
from fowergram.graphql.schema import FowergramSchema, build_schema
from fowergram.graphql.selection_code import FAILED
from fowergram.realtime.connection import Connection, OutboundLimits
from fowergram.realtime.hub_wiring import PUSHED
from fowergram.realtime.operations import run_operation
from fowergram.realtime.protocol import TRANSPORT_WS, Dialect, Subscribe
from fowergram.realtime.pushed import PushedOperation, Pusher


def _schemas() -> tuple[FowergramSchema, FowergramSchema]:
    projected = build_schema(max_depth=12, max_tokens=5000, max_aliases=30, introspection=True)
    ordinary = build_schema(max_depth=12, max_tokens=5000, max_aliases=30, introspection=True)
    ordinary.execution_context_class = lean_executor({})  # no plans: graphql-core's way
    return projected, ordinary


def _message(notification_id: int, *, read: bool) -> bytes:
    now = datetime(2026, 11, 26, 12, 0, notification_id % 60, tzinfo=UTC).isoformat()
    wire = {
        "id": notification_id,
        "recipientId": 5,
        "kind": "comment" if notification_id % 2 else "follow",
        "groupKey": "g",
        "actorIds": [1, 2],
        "actorCount": 2,
        "postId": None,
        "commentId": None,
        "createdAt": now,
        "updatedAt": now,
        "readAt": now if read else None,
    }
    return orjson.dumps({"type": "notification", "notification": wire})


async def _frames(schema: strawberry.Schema, query: str, variables: Any = None) -> list[Any]:
    wire = RecordingWire()
    connection = Connection(
        "c", Dialect(TRANSPORT_WS), wire, OutboundLimits(), now=0, on_slow=lambda: None
    )
    connection.viewer = Viewer(user_id=5, session_id="s", role=Role.USER)
    context = Context(
        request=None,
        services=types.SimpleNamespace(notifications=None),  # type: ignore[arg-type]
        viewer=connection.viewer,
        live=connection,
    )
    task = asyncio.create_task(
        run_operation(
            schema, connection, Subscribe("1", query, variables, None, None), lambda _: context
        )
    )
    await asyncio.sleep(0.05)
    for n in range(1, 5):
        connection.deliver("fg.user.5", _message(n, read=n == 3))
    await asyncio.sleep(0.05)
    task.cancel()
    await connection.finish()
    return [orjson.loads(frame) for frame in wire.frames]


QUERIES = [
    "subscription { notifications { id kind actorCount createdAt updatedAt read } }",
    "subscription { n: notifications { a: id k: kind t: __typename } }",
    "subscription { notifications { ...F read } } fragment F on Notification { id kind }",
    "subscription { notifications { ... on Notification { id } __typename } }",
    "subscription S($x: Boolean!) { notifications { id kind @include(if: $x) } }",
    "subscription { notifications { id id kind } }",
    "subscription { notifications { __typename } }",  # reads nothing of the event
]


@pytest.mark.parametrize("query", QUERIES)
async def test_projected_events_equal_executed_ones(query: str) -> None:
    projected, ordinary = _schemas()
    variables = {"x": True} if "$x" in query else None
    fast = await _frames(projected, query, variables)
    slow = await _frames(ordinary, query, variables)
    assert len(fast) == 4
    assert fast == slow


def _operation(query: str) -> OperationDefinitionNode:
    definition = parse(query).definitions[0]
    assert isinstance(definition, OperationDefinitionNode)
    return definition


def test_only_plain_selections_compile() -> None:
    schema, _ = _schemas()
    core = schema._schema
    plans = plain_field_plans(core, schema.config.default_resolver)
    compiles = "subscription { notifications { id kind } }"
    assert compile_event(_operation(compiles), core.subscription_type, plans, {}) is not None
    for query in (
        "subscription { notifications { id actors { id } } }",  # a resolver
        "subscription { notifications { id @skip(if: true) } }",  # a directive
        "subscription { ticks }",  # not an object
        "subscription { notifications { id } ticks }",  # two root fields
    ):
        assert compile_event(_operation(query), core.subscription_type, plans, {}) is None


def test_a_value_the_projection_cannot_settle_is_left_to_execution() -> None:
    schema, _ = _schemas()
    core = schema._schema
    plans = plain_field_plans(core, schema.config.default_resolver)
    plan = compile_event(
        _operation("subscription { notifications { id actorCount } }"),
        core.subscription_type,
        plans,
        {},
    )
    assert plan is not None
    good = types.SimpleNamespace(id="3", actor_count=2)
    assert plan.projection(good) == {"id": "3", "actorCount": 2}
    assert plan.projection(types.SimpleNamespace(id="3", actor_count=None)) is FAILED
    assert plan.projection(types.SimpleNamespace(id="3", actor_count="x")) is FAILED
    assert plan.projection(types.SimpleNamespace(id="3")) is FAILED


def _pushed_frames(schema: strawberry.Schema, query: str, variables: Any = None) -> Any:
    """The same events through the hub's pushed path; None if it would not push."""
    assert isinstance(schema, FowergramSchema)
    wire = RecordingWire()
    connection = Connection(
        "c", Dialect(TRANSPORT_WS), wire, OutboundLimits(), now=0, on_slow=lambda: None
    )
    connection.viewer = Viewer(user_id=5, session_id="s", role=Role.USER)
    message = Subscribe("1", query, variables, None, None)
    push = Pusher(schema, PUSHED).plan(connection, message)
    if push is None:
        return None
    operation = PushedOperation(connection, "1", push.plan)
    connection.deliver("fg.user.5", _message(1, read=False))  # before go: waits in the feed
    operation.go()
    for n in range(2, 5):
        connection.deliver("fg.user.5", _message(n, read=n == 3))
    operation.cancel()
    connection.deliver("fg.user.5", _message(5, read=False))  # after: not sent
    return [orjson.loads(frame) for frame in wire.frames]


PUSHABLE = {QUERIES[0], QUERIES[1], QUERIES[3], QUERIES[6]}


@pytest.mark.parametrize("query", QUERIES)
async def test_pushed_events_equal_executed_ones(query: str) -> None:
    projected, ordinary = _schemas()
    variables = {"x": True} if "$x" in query else None
    pushed = _pushed_frames(projected, query, variables)
    if query not in PUSHABLE:  # fragments, directives, repeated keys: the ordinary way
        assert pushed is None
        return
    assert pushed is not None
    assert len(pushed) == 4
    assert pushed == await _frames(ordinary, query, variables)


def test_what_is_not_pushed() -> None:
    schema, _ = _schemas()
    connection = Connection(
        "c", Dialect(TRANSPORT_WS), RecordingWire(), OutboundLimits(), now=0, on_slow=lambda: None
    )
    pusher = Pusher(schema, PUSHED)
    live = "subscription { notifications { id } }"
    assert pusher.plan(connection, Subscribe("1", live, None, None, None)) is None  # no viewer
    connection.viewer = Viewer(user_id=5, session_id="s", role=Role.USER)
    assert pusher.plan(connection, Subscribe("1", live, None, None, None)) is not None
    for query, variables in (
        ("subscription S($a: ID) { notifications(after: $a) { id } }", {"a": ["x"]}),  # bad
        ("subscription { notifications { id actors { id } } }", None),  # a resolver
        ("subscription { ticks }", None),  # not registered
        ("subscription { notifications { id } ", None),  # does not parse
        ("subscription { notifications { nope } }", None),  # does not validate
        (  # over the alias limit (30 here)
            "subscription { notifications { " + " ".join(f"a{n}: id" for n in range(40)) + " } }",
            None,
        ),
        ("{ serverInfo { version } }", None),  # not a subscription
    ):
        assert pusher.plan(connection, Subscribe("1", query, variables, None, None)) is None, query
    resumable = "subscription S($a: ID) { notifications(after: $a) { id } }"
    for after in (None, "7"):
        push = pusher.plan(connection, Subscribe("1", resumable, {"a": after}, None, None))
        assert push is not None
        assert push.arguments.get("after") == after


def test_a_malformed_or_broken_pushed_event() -> None:
    schema, _ = _schemas()
    wire = RecordingWire()
    connection = Connection(
        "c", Dialect(TRANSPORT_WS), wire, OutboundLimits(), now=0, on_slow=lambda: None
    )
    connection.viewer = Viewer(user_id=5, session_id="s", role=Role.USER)
    query = "subscription { notifications { id actorCount } }"
    push = Pusher(schema, PUSHED).plan(connection, Subscribe("1", query, None, None, None))
    assert push is not None
    operation = PushedOperation(connection, "1", push.plan)
    operation.go()
    connection.deliver("fg.user.5", b'{"type":"notification","notification":{"id":1}}')
    assert wire.frames == []  # malformed: dropped (and logged)
    connection.deliver("fg.user.5", _message(2, read=False))
    assert orjson.loads(wire.frames[-1])["payload"] == {
        "data": {"notifications": {"id": "2", "actorCount": 2}}
    }
    operation.cancel()


def test_a_pushed_resume_sends_the_missed_first_and_no_live_one_twice() -> None:
    schema, _ = _schemas()
    wire = RecordingWire()
    connection = Connection(
        "c", Dialect(TRANSPORT_WS), wire, OutboundLimits(), now=0, on_slow=lambda: None
    )
    connection.viewer = Viewer(user_id=5, session_id="s", role=Role.USER)
    query = "subscription { notifications { id } }"
    push = Pusher(schema, PUSHED).plan(connection, Subscribe("1", query, None, None, None))
    assert push is not None
    operation = PushedOperation(connection, "1", push.plan)  # the feed is registered
    # While the catch-up reads: 9 (committed before the read, so in it) is published,
    # then 10 (after it).
    connection.deliver("fg.user.5", _message(9, read=False))
    connection.deliver("fg.user.5", _message(10, read=False))
    missed = [notification_value(orjson.loads(_message(n, read=False))) for n in (8, 9)]
    operation.replay(missed)
    operation.go()
    connection.deliver("fg.user.5", _message(9, read=False))  # a late copy: still not twice
    connection.deliver("fg.user.5", _message(11, read=False))
    ids = [orjson.loads(frame)["payload"]["data"]["notifications"]["id"] for frame in wire.frames]
    assert ids == ["8", "9", "10", "11"]
    operation.cancel()
