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


def _as_is_when_exact(
    type_: GraphQLScalarType | GraphQLEnumType, coerce: Callable[[Any], Any]
) -> Callable[[Any], Any]:
    """Most leaves already hold their output (a str for a String, a bool for a Boolean):
    those are returned as graphql-core's built-in scalars would return them, without a
    call; anything else is coerced."""
    if type_ is GraphQLString or type_ is GraphQLID:
        return lambda value: value if type(value) is str else coerce(value)
    if type_ is GraphQLBoolean:
        return lambda value: value if type(value) is bool else coerce(value)
    if type_ is GraphQLInt:
        return lambda value: (
            value
            if type(value) is int and GRAPHQL_MIN_INT <= value <= GRAPHQL_MAX_INT
            else coerce(value)
        )
    return coerce


def _checked_list(one: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def coerce_items_or_undefined(values: Any) -> Any:
        if not isinstance(values, list | tuple):
            return Undefined
        coerced = [one(value) for value in values]
        return Undefined if any(item is Undefined for item in coerced) else coerced

    return coerce_items_or_undefined
