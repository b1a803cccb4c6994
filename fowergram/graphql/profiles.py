"""Profiles over GraphQL."""

from __future__ import annotations

import strawberry
from graphql import FieldNode, IntValueNode, NullValueNode, VariableNode
from strawberry.types import Info

from fowergram.domain.errors import BadUserInput
from fowergram.domain.pagination import page_size
from fowergram.graphql.context import Context
from fowergram.graphql.graph_loaders import known_person
from fowergram.graphql.types.user import UserType


@strawberry.type
class ProfileQuery:
    @strawberry.field(description="A profile by username (case-insensitive).")
    async def user(self, info: Info[Context, None], username: str) -> UserType:
        viewer_id = info.context.viewer.user_id if info.context.viewer else None
        grid_first = _grid_first(info)
        if grid_first is None:
            profile, relation = await info.context.services.profiles.by_username(
                viewer_id, username
            )
            known_posts = None
        else:
            # A profile page: its posts' first page comes with the profile, in one read.
            first, size = grid_first
            page = await info.context.services.profiles.with_grid(viewer_id, username, size)
            profile, relation, known_posts = page.profile, page.relationship, (first, page)
        # The page built on this profile (its posts' authors, their `relationship`) reads
        # both from the loaders: they start with what is known already.
        relation = known_person(info.context, profile, relation)
        return UserType.from_domain(profile, relation, known_posts)


def _grid_first(info: Info[Context, None]) -> tuple[int | None, int] | None:
    """(`first` as asked, the page size) of this field's one `posts` selection when its
    first page can be read with the profile: asked once, plainly (no alias, directive,
    fragment or cursor), with a valid `first`. None otherwise: `posts` then reads its
    page itself, and reports what is wrong with its arguments where it always did."""
    nodes = info._raw_info.field_nodes
    if len(nodes) != 1 or nodes[0].selection_set is None:
        return None
    found: FieldNode | None = None
    for selection in nodes[0].selection_set.selections:
        if not isinstance(selection, FieldNode):
            return None  # fragments: not worth following here
        if selection.name.value == "posts":
            if found is not None or selection.alias is not None or selection.directives:
                return None
            found = selection
    if found is None:
        return None
    first: object = None
    for argument in found.arguments or ():
        value = argument.value
        if isinstance(value, VariableNode):
            resolved = info.variable_values.get(value.name.value)
        elif isinstance(value, IntValueNode):
            resolved = int(value.value)
        elif isinstance(value, NullValueNode):
            resolved = None
        else:
            return None
        if argument.name.value == "first":
            first = resolved
        elif resolved is not None:  # `after`: a later page
            return None
    if first is not None and type(first) is not int:
        return None
    try:
        return first, page_size(first)
    except BadUserInput:
        return None  # `posts` reports it, at its own field
