"""Moderation over GraphQL: suspending accounts (thin resolvers over Moderation)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.moderation import BanOutcome
from fowergram.domain.ids import parse_id
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsModerator


@strawberry.type(name="Suspension", description="An account's suspension, as just set.")
class SuspensionType:
    user_id: strawberry.ID
    banned_at: datetime | None = strawberry.field(description="null: not suspended.")
    sessions_ended: int = strawberry.field(
        description="Sessions the ban ended (their sockets close within a second)."
    )

    @staticmethod
    def from_domain(outcome: BanOutcome) -> SuspensionType:
        return SuspensionType(
            user_id=strawberry.ID(str(outcome.user_id)),
            banned_at=outcome.banned_at,
            sessions_ended=outcome.sessions_ended,
        )


@strawberry.type
class ModerationMutation:
    @strawberry.mutation(
        permission_classes=[IsModerator],
        description="Suspend an account (moderators: users; admins: users and moderators): "
        "every session of it ends at once, sockets included, and it cannot sign in until "
        "the ban is lifted. The reason (at most 500 characters) is kept with the account.",
    )
    async def ban_user(
        self, info: Info[Context, None], user_id: strawberry.ID, reason: str
    ) -> SuspensionType:
        outcome = await info.context.services.moderation.ban(
            info.context.viewer, parse_id(user_id, field="userId"), reason
        )
        return SuspensionType.from_domain(outcome)

    @strawberry.mutation(permission_classes=[IsModerator], description="Lift a suspension.")
    async def unban_user(self, info: Info[Context, None], user_id: strawberry.ID) -> SuspensionType:
        outcome = await info.context.services.moderation.unban(
            info.context.viewer, parse_id(user_id, field="userId")
        )
        return SuspensionType.from_domain(outcome)
