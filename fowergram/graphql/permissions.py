"""Permission classes: the GraphQL face of the domain's role rules."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from fowergram.domain.auth.viewer import Role, require_role, require_viewer
from fowergram.graphql.context import Context


class IsAuthenticated(BasePermission):
    message = "authentication required"

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        require_viewer(info.context.viewer)  # raises Unauthenticated with its code
        return True


class IsModerator(BasePermission):
    message = "requires the moderator role"

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        require_role(info.context.viewer, Role.MODERATOR)
        return True


class IsAdmin(BasePermission):
    message = "requires the admin role"

    def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        require_role(info.context.viewer, Role.ADMIN)
        return True
