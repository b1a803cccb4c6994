"""Plain attribute fields resolved without graphql-core's per-field machinery.

Most fields of a page are leaves read straight off an object (`id`, `caption`,
`likeCount`, ...). For each, graphql-core builds a `GraphQLResolveInfo`, looks up
arguments, calls Strawberry's wrapper around `getattr`, then completes the value through
its generic path: about a third of a profile page's CPU. For a field with no resolver
and no arguments, the result is fully determined by `getattr` and then, for a scalar or
enum (or a list of non-null ones), the type's output coercion, or for an object type
without `is_type_of`, its own selection: this executor does exactly that and nothing
else. Anything unusual (a missing attribute, a null where the type forbids one, a value
the scalar refuses, an awaitable) goes the ordinary way, which raises the same errors
at the same paths it always did.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from graphql import (
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    Undefined,
)
from graphql.execution import ExecutionResult, Executor
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

from fowergram.graphql.event_projection import EventPlan, compile_event, project_event
from fowergram.graphql.leaf_output import leaf_output
from fowergram.graphql.selection_code import (
    FAILED,
    FieldPlan,
    Selection,
    Step,
    each,
    selection_of,
)

_MISSING = object()
_UNCOMPILED = object()


class _Projected:
    """Stands in for a per-event executor whose answer is already known."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def execute_operation(self, serially: bool | None = None) -> ExecutionResult:
        return ExecutionResult(data=self._data, errors=None)


FieldPlans = dict[GraphQLObjectType, dict[str, FieldPlan]]


def _plan(attribute: str, type_: GraphQLOutputType) -> FieldPlan | None:
    nullable = not isinstance(type_, GraphQLNonNull)
    inner = type_ if nullable else type_.of_type  # type: ignore[union-attr]
    coerce = leaf_output(inner)
    if coerce is not None:
        return FieldPlan(attribute, nullable, type_, coerce, None)
    # An `is_type_of` check needs the resolve info this path does without.
    if isinstance(inner, GraphQLObjectType) and inner.is_type_of is None:
        return FieldPlan(attribute, nullable, type_, None, inner)
    if isinstance(inner, GraphQLList) and isinstance(inner.of_type, GraphQLNonNull):
        item = inner.of_type.of_type
        if isinstance(item, GraphQLObjectType) and item.is_type_of is None:
            return FieldPlan(attribute, nullable, type_, None, None, item)
    return None


def plain_field_plans(schema: GraphQLSchema, default_resolver: Callable[..., Any]) -> FieldPlans:
    """Every object type's plain attribute fields, found once when the schema is built."""
    plans: FieldPlans = {}
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
            plan = _plan(definition.python_name, field.type)
            if plan is not None:
                plans.setdefault(type_, {})[name] = plan
    return plans


def lean_executor(plans: FieldPlans) -> type[Executor[Any]]:
    """Strawberry's executor, with plain fields answered directly (see the module's doc)."""

    class LeanExecutor(StrawberryGraphQLCoreExecutionContext):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # A `resolve` extension must see every field: then nothing is bypassed.
            manager = self.middleware_manager
            self._plans = {} if manager is not None and manager.middlewares else plans
            self._event_plan: EventPlan | object | None = _UNCOMPILED
            self._compiled: dict[tuple[Any, ...], Selection | None] | None = None

        def build_response(self, data: dict[str, Any] | None) -> Any:
            response = super().build_response(data)
            # The helpers hold bound methods of this executor: a cycle that would keep the
            # whole execution for the collector. All work is done once the response is.
            self.__dict__.pop("async_helpers", None)
            return response

        def build_per_event_executor(self, payload: Any) -> Any:
            """A subscription event: projected when the selection allows it (see
            `event_projection`), otherwise executed as graphql-core does."""
            if self._event_plan is _UNCOMPILED:
                self._event_plan = (
                    compile_event(
                        self.operation, self.schema.subscription_type, self._plans, self.fragments
                    )
                    if self._plans
                    else None
                )
            if isinstance(self._event_plan, EventPlan):
                data = project_event(self._event_plan, payload)
                if data is not FAILED:
                    return _Projected(data)
            return super().build_per_event_executor(payload)

        def execute_field(
            self,
            parent_type: GraphQLObjectType,
            source: Any,
            field_details_list: Any,
            path: Any,
            position_context: Any,
        ) -> Any:
            fields = self._plans.get(parent_type)
            if fields is not None:
                plan = fields.get(field_details_list[0].node.name.value)
                if plan is not None:
                    value = _read(source, plan.attribute)
                    if value is None:
                        if plan.nullable:
                            return None
                    elif value is _MISSING or isinstance(value, Exception):
                        pass
                    elif plan.coerce is not None:
                        coerced = plan.coerce(value)
                        if coerced is not Undefined:
                            return coerced
                    elif plan.object_type is not None and not self.is_awaitable(value):
                        selection = self._selection(plan.object_type, field_details_list)
                        if selection is not None:
                            data = selection(value)
                            if data is not FAILED:
                                return data
                        return self._complete_object(
                            plan, field_details_list, path, value, position_context
                        )
                    elif plan.item_type is not None and isinstance(value, list | tuple):
                        selection = self._selection(plan.item_type, field_details_list)
                        if selection is not None:
                            items = each(selection, value)
                            if items is not FAILED:
                                return items
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )

        def _selection(
            self, object_type: GraphQLObjectType, field_details_list: Any
        ) -> Selection | None:
            """The compiled selection of these field nodes on `object_type`, or None
            when it is not all plain fields (compiled once per document, then reused)."""
            compiled = self._compiled
            if compiled is None:
                compiled = self._compiled = _compiled_for(self.operation)
            nodes = [details.node for details in field_details_list]
            # Node ids name nodes for as long as their document lives, and so does this
            # cache (see _compiled_for); the nodes themselves hash deeply: not keys.
            key = (object_type, *map(id, nodes))
            if key in compiled:
                return compiled[key]
            selection = compiled[key] = self._compile(object_type, field_details_list, nodes)
            return selection

        def _compile(
            self, object_type: GraphQLObjectType, field_details_list: Any, nodes: list[Any]
        ) -> Selection | None:
            # Directives (@include(if: $x)) make the selection depend on the variables,
            # @defer on more than this object: those keep the ordinary path.
            if any(details.defer_usage is not None for details in field_details_list):
                return None
            if any(_has_directives(node.selection_set, self.fragments, set()) for node in nodes):
                return None
            grouped, new_defer_usages, *_ = self.collect_subfields(object_type, field_details_list)
            if new_defer_usages:
                return None
            fields = self._plans.get(object_type, {})
            steps: list[Step] = []
            for response_key, sub_details in grouped.items():
                name = sub_details[0].node.name.value
                if name == "__typename":
                    steps.append(Step(response_key, None, constant=object_type.name))
                    continue
                plan = fields.get(name)
                if plan is None:
                    return None
                inner = None
                if plan.object_type is not None or plan.item_type is not None:
                    inner_type = plan.object_type or plan.item_type
                    assert inner_type is not None
                    inner = self._selection(inner_type, sub_details)
                    if inner is None:
                        return None
                steps.append(Step(response_key, plan, inner))
            return selection_of(steps)

        def _complete_object(
            self,
            plan: FieldPlan,
            field_details_list: Any,
            path: Any,
            value: Any,
            position_context: Any,
        ) -> Any:
            """graphql-core's completion of an object value, errors handled the same way:
            located at this field, nulled here if it is nullable, else passed up."""
            assert plan.object_type is not None
            try:
                completed = self.collect_and_execute_subfields(
                    plan.object_type, field_details_list, path, value, position_context
                )
            except Exception as raw_error:
                self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
                return None
            if not self.is_awaitable(completed):
                return completed

            async def await_completed() -> Any:
                try:
                    return await completed
                except Exception as raw_error:
                    self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
                    return None

            return await_completed()

    return LeanExecutor


Compiled = dict[tuple[Any, ...], Selection | None]
# The selections compiled for each operation (by id, with a weak reference to tell a
# reused id): they live as long as the parsed document, which the parse cache bounds.
_BY_OPERATION: dict[int, tuple[weakref.ref[Any], Compiled]] = {}


def _compiled_for(operation: Any) -> Compiled:
    key = id(operation)
    entry = _BY_OPERATION.get(key)
    if entry is not None and entry[0]() is operation:
        return entry[1]

    def forget(ref: weakref.ref[Any]) -> None:
        current = _BY_OPERATION.get(key)
        if current is not None and current[0] is ref:
            del _BY_OPERATION[key]

    compiled: Compiled = {}
    _BY_OPERATION[key] = (weakref.ref(operation, forget), compiled)
    return compiled


def _read(source: Any, attribute: str) -> Any:
    """The attribute, or _MISSING when absent or when reading it raises (a property): the
    ordinary path then reads it again and reports the error at its own field."""
    try:
        return getattr(source, attribute, _MISSING)
    except Exception:
        return _MISSING


def _has_directives(selection_set: Any, fragments: Any, seen: set[str]) -> bool:
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if selection.directives:
            return True
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            fragment = fragments.get(name)
            if fragment is None:
                return True  # not ours to judge: the ordinary path reports it
            definition = getattr(fragment, "definition", fragment)
            if definition.directives or _has_directives(definition.selection_set, fragments, seen):
                return True
        elif _has_directives(selection.selection_set, fragments, seen):
            return True
    return False
