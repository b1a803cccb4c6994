from __future__ import annotations

from datetime import datetime

import strawberry

from fowergram.domain.presence import PresenceState, Status

strawberry.enum(Status, name="PresenceStatus", description="Online while any socket is open.")


@strawberry.type(
    name="Presence",
    description="Whether someone is active now, or when they last were (only for people "
    "who share their activity status with a viewer who shares theirs).",
)
class PresenceType:
    user_id: strawberry.ID
    status: Status
    last_seen_at: datetime | None = strawberry.field(
        description="When their last socket closed; null while online or if never seen."
    )

    @classmethod
    def from_domain(cls, state: PresenceState) -> PresenceType:
        return cls(
            user_id=strawberry.ID(str(state.user_id)),
            status=state.status,
            last_seen_at=state.last_seen_at,
        )
