"""A leaf's output form as graphql-core's completion would give it, or Undefined where
that completion would raise: what the lean executor and event projections return for a
scalar, an enum, or a list of non-null ones, without a resolve info per field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    GRAPHQL_MAX_INT,
    GRAPHQL_MIN_INT,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
    Undefined,
)


def leaf_output(type_: GraphQLOutputType) -> Callable[[Any], Any] | None:
    """For a scalar or enum (or a list of non-null ones), the function giving a value's
    output form, or Undefined where graphql-core's completion would raise or null it;
    None for any other type."""
    if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
        return _as_is_when_exact(type_, _checked(type_.coerce_output_value))
    if isinstance(type_, GraphQLList) and isinstance(type_.of_type, GraphQLNonNull):
        item = type_.of_type.of_type
        if isinstance(item, GraphQLScalarType | GraphQLEnumType):
            return _checked_list(_as_is_when_exact(item, _checked(item.coerce_output_value)))
    return None


def _checked(coerce: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def coerce_or_undefined(value: Any) -> Any:
        try:
            coerced = coerce(value)
        except Exception:
            return Undefined
        return Undefined if coerced is None else coerced

    return coerce_or_undefined


def exact_type(type_: GraphQLOutputType) -> type | None:
    """The Python type whose values are their own output for this built-in scalar (an
    Int's only within 32 bits: INT_RANGE), or None."""
    if type_ is GraphQLString or type_ is GraphQLID:
        return str
    if type_ is GraphQLBoolean:
        return bool
    if type_ is GraphQLInt:
        return int
    return None


INT_RANGE = (GRAPHQL_MIN_INT, GRAPHQL_MAX_INT)


def _as_is_when_exact(
    type_: GraphQLScalarType | GraphQLEnumType, coerce: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """Most leaves already hold their output (a str for a String, a bool for a Boolean):
    those are returned as graphql-core's built-in scalars would return them, without a
    call; anything else is coerced."""
    exact = exact_type(type_)
    if exact is int:
        low, high = INT_RANGE
        return lambda value: value if type(value) is int and low <= value <= high else coerce(value)
    if exact is not None:
        return lambda value: value if type(value) is exact else coerce(value)
    return coerce


def _checked_list(one: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def coerce_items_or_undefined(values: Any) -> Any:
        if not isinstance(values, list | tuple):
            return Undefined
        coerced = [one(value) for value in values]
        return Undefined if any(item is Undefined for item in coerced) else coerced

    return coerce_items_or_undefined
