"""Subscription events answered by a compiled projection instead of a new execution.

graphql-core executes a subscription's whole selection again for every event: a copy of
the executor, field collection, a resolve info per field. When every selected field of
the event is a plain attribute (see `lean_executor`), the answer is fully determined by
reading attributes and coercing leaves, which this module compiles once per subscription
(to a function, as selection_code compiles the lean executor's selections) and applies
per event. Anything it does not handle (arguments, directives, resolvers, type
conditions it cannot settle, repeated response keys) makes `compile_event` return None:
the ordinary path runs. A value the projection cannot settle (a null where the type
forbids one, a value the scalar refuses) makes it return FAILED, and that event takes
the ordinary path, which reports the error as it always has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLNonNull,
    GraphQLObjectType,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from fowergram.graphql.selection_code import FAILED, FieldPlan, Selection, Step, selection_of


class EventPlan(NamedTuple):
    key: str  # the root field's response key
    nullable: bool
    projection: Selection  # the root field's selection, compiled (selection_code)


PlanLookup = Mapping[GraphQLObjectType, Mapping[str, FieldPlan]]  # lean_executor.FieldPlans
Fragments = Mapping[str, Any]  # name -> FragmentDetails (with .definition)


def _collect(
    selection_set: SelectionSetNode,
    type_: GraphQLObjectType,
    plans: PlanLookup,
    fragments: Fragments,
    steps: list[Step],
) -> bool:
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, FieldNode):
            step = _step(selection, type_, plans, fragments)
            if step is None:
                return False
            steps.append(step)
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
        if not _collect(nested, type_, plans, fragments, steps):
            return False
    return True


def _step(
    field: FieldNode, type_: GraphQLObjectType, plans: PlanLookup, fragments: Fragments
) -> Step | None:
    name = field.name.value
    key = field.alias.value if field.alias else name
    if name == "__typename":
        return Step(key, None, constant=type_.name)
    plan = plans.get(type_, {}).get(name)
    if plan is None or field.arguments:
        return None
    if plan.coerce is not None:
        return Step(key, plan)
    if plan.object_type is None or field.selection_set is None:
        return None
    nested = _compile(field.selection_set, plan.object_type, plans, fragments)
    if nested is None:
        return None
    return Step(key, plan, nested)


def _compile(
    selection_set: SelectionSetNode,
    type_: GraphQLObjectType,
    plans: PlanLookup,
    fragments: Fragments,
) -> Selection | None:
    steps: list[Step] = []
    if not _collect(selection_set, type_, plans, fragments, steps):
        return None
    if len({step.response_key for step in steps}) != len(steps):
        return None  # graphql-core would merge them: leave that to it
    return selection_of(steps)


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


def project_event(plan: EventPlan, event: Any) -> Any:
    """The `data` of one event, or FAILED."""
    if event is None:
        return {plan.key: None} if plan.nullable else FAILED
    data = plan.projection(event)
    return FAILED if data is FAILED else {plan.key: data}
