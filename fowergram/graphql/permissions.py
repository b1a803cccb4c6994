"""Permission classes: the GraphQL face of the domain's role rules."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from fowergram.domain.auth.viewer import Role, require_role, require_viewer
from fowergram.graphql.context import Context


async def _ensure_socket_session_live(context: Context) -> None:
    # HTTP requests were authenticated just now; a socket may be hours old.
    if context.socket_auth is not None:
        await context.services.auth.ensure_live(context.socket_auth)


class IsAuthenticated(BasePermission):
    message = "authentication required"

    async def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        require_viewer(info.context.viewer)  # raises Unauthenticated with its code
        await _ensure_socket_session_live(info.context)
        return True


class IsModerator(BasePermission):
    message = "requires the moderator role"

    async def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        require_role(info.context.viewer, Role.MODERATOR)
        await _ensure_socket_session_live(info.context)
        return True


class IsAdmin(BasePermission):
    message = "requires the admin role"

    async def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        require_role(info.context.viewer, Role.ADMIN)
        await _ensure_socket_session_live(info.context)
        return True
