"""A selection of plain fields compiled to one Python function.

The lean executor answers an object whose whole selection is plain fields (see
lean_executor) without graphql-core. Interpreting that selection field by field (a loop
over steps, a call per leaf to coerce it) was still the largest single cost of a profile
page: 12 posts x 10 fields. Compiled, each field is an attribute read and, where the
output follows from the value's exact type, a type check: a `str` for a String or ID, a
`bool`, an in-range `int`, a list of `str` (checked item by item, not copied), a UTC
`datetime` (its ISO text written by orjson). Anything else goes through the same
per-field checks as before, in a function of its own. The result is built as one dict
display, in the selection's order. Only names of our own and repr()'d response keys
enter the generated source (aliases are GraphQL names; a str's repr is a literal).

A compiled selection returns FAILED when anything is unusual (a missing attribute, a null
where the type forbids one, a value its scalar refuses, an awaitable): the ordinary path
then runs the same object and reports it as it always has.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from graphql import (
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    Undefined,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.types.base_scalars import isoformat

from fowergram.graphql.leaf_output import INT_RANGE, exact_type

# What a compiled selection returns when the ordinary path must decide.
FAILED: Any = object()

Selection = Callable[[Any], Any]


class FieldPlan(NamedTuple):
    """How to answer one plain field: read `attribute`, then coerce a leaf or run the
    object's own selection (on the value, or on each item of a list of objects)."""

    attribute: str
    nullable: bool
    return_type: GraphQLOutputType
    coerce: Callable[[Any], Any] | None  # a leaf: the value's output form, or Undefined
    object_type: GraphQLObjectType | None  # an object: whose selection runs on the value
    item_type: GraphQLObjectType | None = None  # a list of non-null objects


class Step(NamedTuple):
    """One response key of a selection: a field's plan and, for an object or a list of
    objects, the selection compiled for it; or a constant (`__typename`)."""

    response_key: str
    plan: FieldPlan | None
    inner: Selection | None = None
    constant: str | None = None


def selection_of(steps: list[Step]) -> Selection:
    """The function answering these steps for one source object (see the module's doc)."""
    names: dict[str, Any] = {
        "FAILED": FAILED,
        "datetime": datetime,
        "UTC": UTC,
        "dumps": orjson.dumps,
        "all_str": _all_str,
    }
    # `pass`: a selection of constants only (`{ __typename }`) reads nothing.
    lines = ["def select(source):", "    try:", "        pass"]
    values = []
    for index, step in enumerate(steps):
        value = f"v{index}"
        values.append(f"{step.response_key!r}: {value}")
        if step.plan is None:
            names[value] = step.constant
            continue
        names[f"field{index}"] = _field_check(step)
        lines.append(f"        {value} = {_attribute_expr(step.plan.attribute)}")
        exact = _exact_output(step.plan, value)
        if exact is None:
            lines += _checked(value, index, indent="        ")
        else:
            condition, output = exact
            if output == value:
                lines.append(f"        if not ({condition}):")
            else:
                lines += [
                    f"        if {condition}:",
                    f"            {value} = {output}",
                    "        else:",
                ]
            lines += _checked(value, index, indent="            ")
    lines += [
        "    except Exception:  # reading a property raised: the ordinary path reports it",
        "        return FAILED",
        "    return {" + ", ".join(values) + "}",
    ]
    exec(compile("\n".join(lines), "<compiled selection>", "exec"), names)  # noqa: S102
    select: Selection = names["select"]
    return select


def each(selection: Selection, items: list[Any] | tuple[Any, ...]) -> Any:
    """The selection of every item, or FAILED if any item fails (or is null)."""
    results = []
    for item in items:
        if item is None:
            return FAILED
        data = selection(item)
        if data is FAILED:
            return FAILED
        results.append(data)
    return results


def _attribute_expr(attribute: str) -> str:
    """Source text reading `attribute` of `source`: plainly when the name is one Python
    compiles as it stands (ASCII: a non-ASCII name would be NFKC-folded into another)."""
    if attribute.isascii() and attribute.isidentifier() and not keyword.iskeyword(attribute):
        return f"source.{attribute}"
    return f"getattr(source, {attribute!r})"


def _checked(value: str, index: int, *, indent: str) -> list[str]:
    return [
        f"{indent}{value} = field{index}({value})",
        f"{indent}if {value} is FAILED:",
        f"{indent}    return FAILED",
    ]


def _exact_output(plan: FieldPlan, value: str) -> tuple[str, str] | None:
    """For a leaf whose output is known from the value's exact type, the condition on
    the value and the output's expression, as graphql-core's own coercion would give."""
    if plan.coerce is None:
        return None
    type_ = plan.return_type
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    exact = exact_type(type_)
    if exact is int:
        low, high = INT_RANGE
        return f"type({value}) is int and {low} <= {value} <= {high}", value
    if exact is not None:
        return f"type({value}) is {exact.__name__}", value
    if isinstance(type_, GraphQLScalarType) and type_.coerce_output_value is isoformat:
        # orjson writes a UTC datetime exactly as isoformat() does, in a third of the time.
        return (
            f"type({value}) is datetime and {value}.tzinfo is UTC",
            f"dumps({value})[1:-1].decode()",
        )
    if (
        isinstance(type_, GraphQLList)
        and isinstance(type_.of_type, GraphQLNonNull)
        and exact_type(type_.of_type.of_type) is str
    ):
        return f"type({value}) is list and all_str({value})", value
    return None


def _all_str(values: list[Any]) -> bool:
    for value in values:  # noqa: SIM110 (a loop: no generator object per call)
        if type(value) is not str:
            return False
    return True


def _field_check(step: Step) -> Callable[[Any], Any]:
    """The field's output from its value by the general rules, or FAILED."""
    plan, inner = step.plan, step.inner
    assert plan is not None
    nullable, coerce = plan.nullable, plan.coerce
    if inner is None:  # a leaf: as the lean path, an awaitable fails coercion
        assert coerce is not None

        def leaf(value: Any) -> Any:
            if value is None:
                return None if nullable else FAILED
            if isinstance(value, Exception):
                return FAILED
            coerced = coerce(value)
            return FAILED if coerced is Undefined else coerced

        return leaf
    if plan.item_type is not None:

        def items(value: Any) -> Any:
            if value is None:
                return None if nullable else FAILED
            if isinstance(value, Exception) or optimized_is_awaitable(value):
                return FAILED
            if not isinstance(value, list | tuple):
                return FAILED
            return each(inner, value)

        return items

    def one(value: Any) -> Any:
        if value is None:
            return None if nullable else FAILED
        if isinstance(value, Exception) or optimized_is_awaitable(value):
            return FAILED
        return inner(value)

    return one
