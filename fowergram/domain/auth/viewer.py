"""Who is making a request: the authenticated user, their session and roles."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fowergram.domain.errors import Forbidden, Unauthenticated


class Role(StrEnum):
    USER = "user"
    MODERATOR = "moderator"
    ADMIN = "admin"


# A role includes every role below it.
_RANK = {Role.USER: 0, Role.MODERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Viewer:
    user_id: int
    session_id: str
    role: Role

    def has_role(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]


def outranks(role: Role, other: Role) -> bool:
    """Strictly above: a moderator over a user, an admin over both (not over an admin)."""
    return _RANK[role] > _RANK[other]


def require_viewer(viewer: Viewer | None) -> Viewer:
    if viewer is None:
        raise Unauthenticated()
    return viewer


def require_role(viewer: Viewer | None, role: Role) -> Viewer:
    signed_in = require_viewer(viewer)
    if not signed_in.has_role(role):
        raise Forbidden(f"requires the {role.value} role")
    return signed_in
