"""Plain attribute fields resolved without graphql-core's per-field machinery.

Most fields of a page are leaves read straight off an object (`id`, `caption`,
`likeCount`, ...). For each, graphql-core builds a `GraphQLResolveInfo`, looks up
arguments, calls Strawberry's wrapper around `getattr`, then completes the value through
its generic path: about a third of a profile page's CPU. For a field with no resolver,
no arguments and a scalar or enum type (or a list of non-null ones) the result is fully
determined by `getattr` and the type's output coercion, so this executor does exactly
that and nothing else. Anything unusual (a missing attribute, a null where the type
forbids one, a value the scalar refuses) goes the ordinary way, which raises the same
errors at the same paths it always did.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLEnumType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    Undefined,
)
from graphql.execution import Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

_MISSING = object()


class LeafPlan(NamedTuple):
    attribute: str
    nullable: bool
    coerce: Callable[[Any], Any]  # the value to its output form, or Undefined if refused


LeafPlans = dict[GraphQLObjectType, dict[str, LeafPlan]]


def _leaf_coercion(type_: GraphQLOutputType) -> Callable[[Any], Any] | None:
    if isinstance(type_, GraphQLScalarType | GraphQLEnumType):
        return _checked(type_.coerce_output_value)
    if isinstance(type_, GraphQLList) and isinstance(type_.of_type, GraphQLNonNull):
        item = type_.of_type.of_type
        if isinstance(item, GraphQLScalarType | GraphQLEnumType):
            return _checked_list(item.coerce_output_value)
    return None


def _checked(coerce: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def coerce_or_undefined(value: Any) -> Any:
        try:
            coerced = coerce(value)
        except Exception:
            return Undefined
        return Undefined if coerced is None else coerced

    return coerce_or_undefined


def _checked_list(coerce: Callable[[Any], Any]) -> Callable[[Any], Any]:
    one = _checked(coerce)

    def coerce_items_or_undefined(values: Any) -> Any:
        if not isinstance(values, list | tuple):
            return Undefined
        coerced = [one(value) for value in values]
        return Undefined if any(item is Undefined for item in coerced) else coerced

    return coerce_items_or_undefined


def leaf_plans(schema: GraphQLSchema, default_resolver: Callable[..., Any]) -> LeafPlans:
    """Every object type's plain attribute leaves, found once when the schema is built."""
    plans: LeafPlans = {}
    if default_resolver is not getattr:
        return plans  # a custom default resolver may do more than read an attribute
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or type_.name.startswith("__"):
            continue
        for name, field in type_.fields.items():
            definition = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(definition, StrawberryField) or field.args:
                continue
            if not definition.is_basic_field or definition.extensions:
                continue
            if not getattr(field.resolve, "_is_default", False):
                continue
            nullable = not isinstance(field.type, GraphQLNonNull)
            inner = field.type if nullable else field.type.of_type
            coerce = _leaf_coercion(inner)
            if coerce is not None:
                plans.setdefault(type_, {})[name] = LeafPlan(
                    definition.python_name, nullable, coerce
                )
    return plans


def lean_executor(plans: LeafPlans) -> type[Executor[Any]]:
    """Strawberry's executor, with plain leaves read directly (see the module's doc)."""

    class LeanExecutor(StrawberryGraphQLCoreExecutionContext):
        def execute_field(
            self,
            parent_type: GraphQLObjectType,
            source: Any,
            field_details_list: Any,
            path: Any,
            position_context: Any,
        ) -> Any:
            fields = plans.get(parent_type)
            if fields is not None:
                plan = fields.get(field_details_list[0].node.name.value)
                if plan is not None:
                    value = getattr(source, plan.attribute, _MISSING)
                    if value is None:
                        if plan.nullable:
                            return None
                    elif value is not _MISSING:
                        coerced = plan.coerce(value)
                        if coerced is not Undefined:
                            return coerced
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )

    return LeanExecutor
