"""The lean executor answers exactly as Strawberry's own: data, errors and their paths."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission

from fowergram.graphql.lean_executor import lean_executor, plain_field_plans


@strawberry.enum
class Mood(enum.Enum):
    CALM = "calm"
    LOUD = "loud"


class Nobody(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    note: str | None
    count: int
    mood: Mood
    at: datetime
    tags: list[str]
    maybe_tags: list[str] | None
    secret: str = strawberry.field(permission_classes=[Nobody], default="hidden")

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


@dataclass
class LooseItem:
    """What a buggy resolver might hand over: wrong types, nulls, missing attributes."""

    id: Any
    name: Any
    note: Any
    count: Any
    mood: Any
    at: Any
    tags: Any
    maybe_tags: Any
    secret: Any = "hidden"

    def shout(self) -> str:
        return "?"


GOOD = Item(
    id=strawberry.ID("7"),
    name="Ana 🌸 \u202e",
    note=None,
    count=3,
    mood=Mood.LOUD,
    at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    tags=["a", "b"],
    maybe_tags=None,
)
BROKEN = [
    LooseItem(7, None, 5, "three", "LOUD", "yesterday", ["a", None], [1, 2]),
    LooseItem("8", "x", None, 2**40, Mood.CALM, GOOD.at, "ab", None),
    LooseItem("9", 12, None, True, None, GOOD.at, ("a",), ("b", None)),
    # The edges of what is returned as it stands: Int's bounds, a bool for an ID.
    LooseItem(True, "n", None, 2**31, Mood.CALM, GOOD.at, ["a"], None),
    LooseItem("10", "m", None, -(2**31), Mood.CALM, GOOD.at, [True], [False]),
]


@strawberry.type
class Holder:
    """Plain object fields: present, absent, broken inside, and behind a resolver."""

    item: Item
    maybe_item: Item | None
    inner: Holder | None

    @strawberry.field
    async def later(self) -> Item:
        return self.item


def _holder(item: Any, maybe_item: Any, depth: int = 1) -> Holder:
    inner = _holder(item, maybe_item, depth - 1) if depth else None
    return Holder(item=item, maybe_item=maybe_item, inner=inner)


@strawberry.type
class Shelf:
    """Lists of objects as plain fields: answered by a compiled selection when all of it
    is plain."""

    name: str
    items: list[Item]
    maybe_items: list[Item] | None
    holders: list[Holder]


SHELVES = [
    Shelf(name="good", items=[GOOD, GOOD], maybe_items=None, holders=[_holder(GOOD, None, 2)]),
    Shelf(name="broken", items=[GOOD, BROKEN[1]], maybe_items=[BROKEN[2]], holders=[]),  # type: ignore[list-item]
    Shelf(name="null item", items=[GOOD, None], maybe_items=[GOOD], holders=[]),  # type: ignore[list-item]
    Shelf(name="no list", items="abc", maybe_items=[], holders=[]),  # type: ignore[arg-type]
]


class RaisingItem(LooseItem):
    """A property that raises: reported at its own field, as the ordinary path does."""

    @property
    def name(self) -> str:
        raise ValueError("name unavailable")

    @name.setter
    def name(self, value: str) -> None:
        pass


RAISING = RaisingItem("5", "ignored", None, 1, Mood.CALM, GOOD.at, [], None)


async def _item_later() -> Item:
    return GOOD


@strawberry.type
class Query:
    @strawberry.field
    def shelves(self) -> list[Shelf | None]:
        return list(SHELVES)

    @strawberry.field
    def raising(self) -> list[Shelf]:
        holder = Holder(item=RAISING, maybe_item=RAISING, inner=None)  # type: ignore[arg-type]
        return [Shelf(name="raising", items=[GOOD], maybe_items=[RAISING], holders=[holder])]  # type: ignore[list-item]

    @strawberry.field
    def awaiting(self) -> list[Shelf]:
        """A plain field holding an awaitable: the ordinary path awaits it."""
        holder = Holder(item=_item_later(), maybe_item=None, inner=None)  # type: ignore[arg-type]
        return [Shelf(name="later", items=[GOOD], maybe_items=None, holders=[holder])]

    @strawberry.field
    def holders(self) -> list[Holder | None]:
        return [
            _holder(GOOD, None),
            _holder(GOOD, BROKEN[0]),  # maybeItem has a null non-null field: becomes null
            _holder(BROKEN[0], GOOD),  # item cannot be null: the holder becomes null
            _holder(BROKEN[1], BROKEN[2]),
            Holder(item=None, maybe_item=GOOD, inner=None),  # type: ignore[arg-type]
        ]

    @strawberry.field
    def good(self) -> Item:
        return GOOD

    @strawberry.field
    def items(self) -> list[Item | None]:
        return [GOOD, *BROKEN]  # type: ignore[list-item]

    @strawberry.field
    def strict_items(self) -> list[Item]:
        return [GOOD, *BROKEN]  # type: ignore[list-item]


DOCUMENT = """
{
  holders {
    item { id name count } maybeItem { id name mood }
    inner { item { id } maybeItem { name } inner { item { name } } later { name count } }
    later { name }
  }
  good { id name note count mood at tags maybeTags shout renamed: name }
  items { id name note count mood at tags maybeTags shout }
}
"""


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    plain = strawberry.Schema(query=Query)
    lean = strawberry.Schema(query=Query)
    lean.execution_context_class = lean_executor(
        plain_field_plans(lean._schema, lean.config.default_resolver)
    )
    return plain, lean


def _shape(result: Any) -> tuple[Any, list[tuple[str, Any]]]:
    errors = sorted((error.message, error.path) for error in result.errors or [])
    return result.data, errors


async def test_answers_like_strawberry_for_good_and_broken_values() -> None:
    plain, lean = _schemas()
    expected = await plain.execute(DOCUMENT)
    actual = await lean.execute(DOCUMENT)
    assert _shape(actual) == _shape(expected)
    assert expected.errors, "the broken items must produce errors to compare"
    assert actual.data is not None
    assert actual.data["good"]["name"] == GOOD.name
    assert actual.data["good"]["at"] == "2026-11-26T12:00:00+00:00"
    assert actual.data["items"][1] is None  # Item.name is non-null: the item becomes null


@pytest.mark.parametrize(
    "document",
    [
        "{ good { secret } }",
        "{ good { name @skip(if: true) count @include(if: false) id } }",
        "{ good { ... on Item { name } ...F } } fragment F on Item { count mood }",
        "{ items { __typename id } }",
        "{ strictItems { id count } }",  # the error nulls everything up to the root
        "{ shelves { name items { id name mood at tags } maybeItems { id count } } }",
        "{ shelves { holders { item { id } inner { item { name } maybeItem { id } } } } }",
        "{ shelves { __typename a: name b: name items { __typename id ...F } } }"
        " fragment F on Item { id count }",
        "{ shelves { items { id } items { name } ... on Shelf { items { count } } } }",
        "{ shelves { items { id later: shout } } }",  # a resolver inside: the ordinary path
        "{ holders { item { __typename } } shelves { items { t: __typename } } }",
        "{ awaiting { name holders { item { id name } maybeItem { id } } } }",
        "{ raising { maybeItems { id name } holders { item { id } maybeItem { id name } } } }",
    ],
)
async def test_permissions_directives_and_fragments_behave_the_same(document: str) -> None:
    plain, lean = _schemas()
    assert _shape(await lean.execute(document)) == _shape(await plain.execute(document))


def _count_resolve_infos(lean: strawberry.Schema) -> list[str]:
    """The fields (Type.field) for which `lean` builds a resolve info, as it runs."""
    built: list[str] = []

    class Counting(lean.execution_context_class):  # type: ignore[misc,name-defined]
        def build_resolve_info(self, field_def: Any, *args: Any) -> Any:
            built.append(args[1].name + "." + args[0][0].name.value)
            return super().build_resolve_info(field_def, *args)

    lean.execution_context_class = Counting
    return built


async def test_a_compiled_selection_follows_the_variables_of_its_directives() -> None:
    plain, lean = _schemas()
    document = """query Q($on: Boolean!) {
      shelves { items { id name @include(if: $on) ... on Item @skip(if: $on) { count } } }
    }"""
    # The same document twice on the lean side: nothing decided for the first set of
    # variables may be reused for the second.
    for on in (True, False, True):
        variables = {"on": on}
        expected = await plain.execute(document, variable_values=variables)
        actual = await lean.execute(document, variable_values=variables)
        assert _shape(actual) == _shape(expected)
    assert actual.data is not None


async def test_lists_of_plain_objects_skip_the_resolve_info() -> None:
    _, lean = _schemas()
    built = _count_resolve_infos(lean)
    document = "{ shelves { name items { id name mood } } }"
    for _ in range(2):  # compiled by the first request, reused by the second
        built.clear()
        result = await lean.execute(document)
        assert result.data is not None
        assert result.data["shelves"][0] == {
            "name": "good",
            "items": [{"id": "7", "name": GOOD.name, "mood": "LOUD"}] * 2,
        }
        # Two shelves took the ordinary path, to report their errors: a null item and a
        # string where the list should be (the "broken" one is fine for these fields).
        assert built == ["Query.shelves", "Shelf.items", "Shelf.items"]
        assert result.data["shelves"][2:] == [None, None]


def test_plans_cover_plain_leaves_only() -> None:
    _, lean = _schemas()
    plans = {t.name: set(fields) for t, fields in plain_field_plans(lean._schema, getattr).items()}
    assert plans["Item"] == {"id", "name", "note", "count", "mood", "at", "tags", "maybeTags"}
    assert plans["Holder"] == {"item", "maybeItem", "inner"}  # `later` has a resolver
    # Lists of non-null objects too (their items' selection is compiled when plain).
    assert plans["Shelf"] == {"name", "items", "maybeItems", "holders"}
    assert "Query" not in plans  # resolvers are never bypassed


def test_a_custom_default_resolver_turns_the_shortcut_off() -> None:
    _, lean = _schemas()
    assert plain_field_plans(lean._schema, lambda obj, name: getattr(obj, name)) == {}


async def test_plain_leaves_skip_the_resolve_info() -> None:
    _, lean = _schemas()
    built = _count_resolve_infos(lean)
    result = await lean.execute("{ good { id name note count mood at tags shout } }")
    assert result.errors is None
    assert sorted(built) == ["Item.shout", "Query.good"]

    built.clear()
    result = await lean.execute("{ holders { item { id } inner { maybeItem { id } } } }")
    assert result.data is not None
    assert result.data["holders"][0] == {"item": {"id": "7"}, "inner": {"maybeItem": None}}
    # Only the broken holder (a null `item`) took the ordinary path, to report its error.
    assert built == ["Query.holders", "Holder.item"]


class Shout(SchemaExtension):
    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        result = _next(root, info, *args, **kwargs)
        return result.upper() if isinstance(result, str) else result


async def test_a_resolve_extension_still_sees_every_field() -> None:
    lean = strawberry.Schema(query=Query, extensions=[Shout])
    lean.execution_context_class = lean_executor(
        plain_field_plans(lean._schema, lean.config.default_resolver)
    )
    result = await lean.execute("{ good { name } }")
    assert result.data == {"good": {"name": GOOD.name.upper()}}
