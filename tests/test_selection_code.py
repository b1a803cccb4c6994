"""Compiled selections: the inline fast paths give what graphql-core's coercion gives."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from graphql import (
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLScalarType,
)

from fowergram.graphql.leaf_output import leaf_output
from fowergram.graphql.schema import build_schema
from fowergram.graphql.selection_code import FAILED, FieldPlan, Step, selection_of

SCHEMA = build_schema(max_depth=10, max_tokens=1000, max_aliases=10, introspection=False)
DATETIME = SCHEMA._schema.type_map["DateTime"]
assert isinstance(DATETIME, GraphQLScalarType)


class Moment(datetime):
    """A datetime subclass: not the exact type, so it takes the general path."""


@dataclass
class Row:
    at: Any
    count: Any = 1
    ids: Any = ()


def _plan(attribute: str, type_: GraphQLOutputType) -> FieldPlan:
    inner = type_.of_type if isinstance(type_, GraphQLNonNull) else type_
    return FieldPlan(
        attribute, not isinstance(type_, GraphQLNonNull), type_, leaf_output(inner), None
    )


SELECT = selection_of(
    [
        Step("at", _plan("at", GraphQLNonNull(DATETIME))),
        Step("count", _plan("count", GraphQLNonNull(GraphQLInt))),
        Step("ids", _plan("ids", GraphQLNonNull(GraphQLList(GraphQLNonNull(GraphQLID))))),
        Step("__typename", None, constant="Row"),
    ]
)


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 11, 28, 1, 2, 3, tzinfo=UTC),
        datetime(2026, 11, 28, 1, 2, 3, 40, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 28, 1, 2, 3),  # naive
        datetime(2026, 11, 28, 1, 2, 3, 5, tzinfo=timezone(timedelta(hours=5, minutes=30))),
        datetime(2026, 11, 28, tzinfo=timezone(timedelta(seconds=-37))),
        Moment(2026, 11, 28, 1, 2, 3, tzinfo=UTC),
    ],
)
def test_a_datetime_reads_as_its_isoformat(at: datetime) -> None:
    assert SELECT(Row(at)) == {"at": at.isoformat(), "count": 1, "ids": [], "__typename": "Row"}


def test_lists_of_ids_and_ints_keep_their_values_or_fail_as_graphql_would() -> None:
    at = datetime(2026, 11, 28, tzinfo=UTC)
    assert SELECT(Row(at, 2**31 - 1, ["1", "2"]))["ids"] == ["1", "2"]
    assert SELECT(Row(at, 5, (7, "8")))["ids"] == ["7", "8"]  # a tuple, ints: coerced
    assert SELECT(Row(at, True))["count"] == 1  # as graphql-core coerces a bool
    assert SELECT(Row(at, 2**31)) is FAILED  # beyond 32 bits
    assert SELECT(Row(at, 1, ["1", None])) is FAILED
    assert SELECT(Row("yesterday")) is FAILED
    assert SELECT(Row(None)) is FAILED  # non-null
    assert SELECT(object()) is FAILED  # no attributes at all


def test_a_selection_of_constants_only_reads_nothing() -> None:
    typename_only = selection_of([Step("__typename", None, constant="Row")])
    assert typename_only(object()) == {"__typename": "Row"}
