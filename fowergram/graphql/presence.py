"""Presence over HTTP GraphQL: a snapshot of whom the viewer may see (the live changes are
the `presence` subscription's)."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.presence_service import MAX_USER_IDS
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.presence import PresenceType


@strawberry.type
class PresenceQuery:
    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description=f"Presence of up to {MAX_USER_IDS} people, in the order asked. Left out: "
        "those you may not see (either of you hides activity status, you do not follow each "
        "other, a block) and unknown ids.",
    )
    async def presence(
        self, info: Info[Context, None], user_ids: list[strawberry.ID]
    ) -> list[PresenceType]:
        viewer = require_viewer(info.context.viewer)
        states = await info.context.services.presence.presence(viewer, user_ids)
        return [PresenceType.from_domain(state) for state in states]
