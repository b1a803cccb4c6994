"""Subscription events answered by a compiled projection instead of a new execution.

graphql-core executes a subscription's whole selection again for every event: a copy of
the executor, field collection, a resolve info per field. When every selected field of
the event is a plain attribute (see `lean_executor`), the answer is fully determined by
reading attributes and coercing leaves, which this module compiles once per subscription
and applies per event. Anything it does not handle (arguments, directives, resolvers,
type conditions it cannot settle, repeated response keys) makes `compile_event` return
None: the ordinary path runs. A value the projection cannot settle (a null where the
type forbids one, a value the scalar refuses) makes `project` return FAILED, and that
event takes the ordinary path, which reports the error as it always has.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    Undefined,
)

FAILED: Any = object()
_MISSING = object()


class Entry(NamedTuple):
    key: str
    attribute: str | None  # None: the `__typename` entry
    nullable: bool
    coerce: Callable[[Any], Any] | None
    selection: Projection | None
    typename: str | None


class Projection(NamedTuple):
    entries: tuple[Entry, ...]


class EventPlan(NamedTuple):
    key: str  # the root field's response key
    nullable: bool
    projection: Projection


PlanLookup = Mapping[GraphQLObjectType, Mapping[str, Any]]  # lean_executor.FieldPlans
Fragments = Mapping[str, Any]  # name -> FragmentDetails (with .definition)


def _collect(
    selection_set: SelectionSetNode,
    type_: GraphQLObjectType,
    plans: PlanLookup,
    fragments: Fragments,
    entries: list[Entry],
) -> bool:
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, FieldNode):
            entry = _entry(selection, type_, plans, fragments)
            if entry is None:
                return False
            entries.append(entry)
            continue
        if isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            nested = selection.selection_set
        elif isinstance(selection, FragmentSpreadNode):
            details = fragments.get(selection.name.value)
            if details is None:
                return False
            condition = details.definition.type_condition
            nested = details.definition.selection_set
        else:
            return False
        if condition is not None and condition.name.value != type_.name:
            return False
        if not _collect(nested, type_, plans, fragments, entries):
            return False
    return True


def _entry(
    field: FieldNode, type_: GraphQLObjectType, plans: PlanLookup, fragments: Fragments
) -> Entry | None:
    name = field.name.value
    key = field.alias.value if field.alias else name
    if name == "__typename":
        return Entry(key, None, False, None, None, type_.name)
    plan = plans.get(type_, {}).get(name)
    if plan is None or field.arguments:
        return None
    if plan.coerce is not None:
        return Entry(key, plan.attribute, plan.nullable, plan.coerce, None, None)
    if plan.object_type is None or field.selection_set is None:
        return None
    nested = _compile(field.selection_set, plan.object_type, plans, fragments)
    if nested is None:
        return None
    return Entry(key, plan.attribute, plan.nullable, None, nested, None)


def _compile(
    selection_set: SelectionSetNode,
    type_: GraphQLObjectType,
    plans: PlanLookup,
    fragments: Fragments,
) -> Projection | None:
    entries: list[Entry] = []
    if not _collect(selection_set, type_, plans, fragments, entries):
        return None
    if len({entry.key for entry in entries}) != len(entries):
        return None  # graphql-core would merge them: leave that to it
    return Projection(tuple(entries))


def compile_event(
    operation: OperationDefinitionNode,
    subscription_type: GraphQLObjectType | None,
    plans: PlanLookup,
    fragments: Fragments,
) -> EventPlan | None:
    """The projection of this subscription's events, if they can be projected."""
    if subscription_type is None:
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    root = selections[0]
    field = subscription_type.fields.get(root.name.value)
    if field is None or root.directives or root.selection_set is None:
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    if not isinstance(inner, GraphQLObjectType) or inner.is_type_of is not None:
        return None
    projection = _compile(root.selection_set, inner, plans, fragments)
    if projection is None:
        return None
    key = root.alias.value if root.alias else root.name.value
    return EventPlan(key, nullable, projection)


def project(projection: Projection, value: Any) -> Any:
    """The selection's answer for `value`, or FAILED when the ordinary path must decide."""
    out: dict[str, Any] = {}
    for key, attribute, nullable, coerce, selection, typename in projection.entries:
        if attribute is None:
            out[key] = typename
            continue
        item = getattr(value, attribute, _MISSING)
        if item is None:
            if not nullable:
                return FAILED
            out[key] = None
        elif item is _MISSING or isinstance(item, Exception):
            return FAILED
        elif coerce is not None:
            coerced = coerce(item)
            if coerced is Undefined:
                return FAILED
            out[key] = coerced
        else:
            assert selection is not None
            nested = project(selection, item)
            if nested is FAILED:
                return FAILED
            out[key] = nested
    return out


def project_event(plan: EventPlan, event: Any) -> Any:
    """The `data` of one event, or FAILED."""
    if event is None:
        return {plan.key: None} if plan.nullable else FAILED
    data = project(plan.projection, event)
    return FAILED if data is FAILED else {plan.key: data}
