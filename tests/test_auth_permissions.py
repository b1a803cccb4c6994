"""Permission classes on a tiny schema: each role reaches what its rank allows, and refusals
carry the codes production shapes (ShapeErrors)."""

from __future__ import annotations

from typing import Any, cast

import pytest
import strawberry
from starlette.requests import Request
from strawberry.types import Info

from fowergram.container import Services
from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.graphql.context import Context
from fowergram.graphql.errors import ShapeErrors
from fowergram.graphql.permissions import IsAdmin, IsAuthenticated, IsModerator


@strawberry.type
class Query:
    @strawberry.field
    def public(self) -> str:
        return "anyone"

    @strawberry.field(permission_classes=[IsAuthenticated])
    def member(self, info: Info[Context, None]) -> str:
        assert info.context.viewer is not None
        return f"user {info.context.viewer.user_id}"

    @strawberry.field(permission_classes=[IsModerator])
    def moderation(self) -> str:
        return "queue"

    @strawberry.field(permission_classes=[IsAdmin])
    def administration(self) -> str:
        return "console"


SCHEMA = strawberry.Schema(query=Query, extensions=[ShapeErrors])
ALLOWED = "allowed"
FIELDS = ("member", "moderation", "administration")
# For each viewer: what each field answers (ALLOWED, or the error code).
EXPECTED: dict[Role | None, tuple[str, str, str]] = {
    None: ("UNAUTHENTICATED", "UNAUTHENTICATED", "UNAUTHENTICATED"),
    Role.USER: (ALLOWED, "FORBIDDEN", "FORBIDDEN"),
    Role.MODERATOR: (ALLOWED, ALLOWED, "FORBIDDEN"),
    Role.ADMIN: (ALLOWED, ALLOWED, ALLOWED),
}


def _context(role: Role | None) -> Context:
    viewer = None if role is None else Viewer(user_id=7, session_id="s-1", role=role)
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": []})
    # The permission classes read only the viewer: no services are needed here.
    return Context(request=request, services=cast(Services, None), viewer=viewer)


CASES = [
    pytest.param(role, field, outcome, id=f"{role or 'anonymous'}-{field}")
    for role, outcomes in EXPECTED.items()
    for field, outcome in zip(FIELDS, outcomes, strict=True)
]


@pytest.mark.parametrize(("role", "field", "outcome"), CASES)
async def test_each_role_reaches_what_its_rank_allows(
    role: Role | None, field: str, outcome: str
) -> None:
    result = await SCHEMA.execute(f"{{ {field} public }}", context_value=_context(role))

    if outcome == ALLOWED:
        assert result.errors is None
        assert result.data is not None
        assert result.data[field]
        return
    assert result.errors is not None
    [error] = result.errors
    assert error.extensions == {"code": outcome}
    assert error.path == [field]
    assert result.data is None  # a non-null field failed: the whole result is null


async def test_a_refusal_names_the_missing_role() -> None:
    result = await SCHEMA.execute("{ administration }", context_value=_context(Role.MODERATOR))
    assert result.errors is not None
    assert result.errors[0].message == "requires the admin role"
    anonymous = await SCHEMA.execute("{ administration }", context_value=_context(None))
    assert anonymous.errors is not None
    assert anonymous.errors[0].message == "authentication required"


async def test_the_viewer_reaches_the_resolver() -> None:
    result = await SCHEMA.execute("{ member public }", context_value=_context(Role.USER))
    assert result.data == {"member": "user 7", "public": "anyone"}


async def test_one_refused_field_leaves_nullable_siblings_alone() -> None:
    @strawberry.type
    class Lenient:
        @strawberry.field
        def public(self) -> str:
            return "anyone"

        @strawberry.field(permission_classes=[IsAdmin])
        def administration(self) -> str | None:
            return "console"

    schema = strawberry.Schema(query=Lenient, extensions=[ShapeErrors])
    result = await schema.execute("{ public administration }", context_value=_context(Role.USER))

    data: dict[str, Any] | None = result.data
    assert data == {"public": "anyone", "administration": None}
    assert result.errors is not None
    assert [e.extensions for e in result.errors] == [{"code": "FORBIDDEN"}]
