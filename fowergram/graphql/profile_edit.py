"""Editing your own profile over GraphQL."""

from __future__ import annotations

from typing import TypeVar

import strawberry
from strawberry.types import Info

from fowergram.domain.auth.viewer import require_viewer
from fowergram.domain.social.profile_update import KEEP, Keep, ProfileEdit
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.user import UserType

T = TypeVar("T")


@strawberry.input(
    description="Fields to change; an omitted field (or null, except website) stays as it is."
)
class UpdateProfileInput:
    full_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="≤ 64 characters."
    )
    bio: str | None = strawberry.field(
        default=strawberry.UNSET, description="≤ 150 characters; line breaks allowed."
    )
    website: str | None = strawberry.field(
        default=strawberry.UNSET, description='An http(s) URL; null or "" removes it.'
    )
    is_private: bool | None = strawberry.UNSET
    show_activity_status: bool | None = strawberry.field(
        default=strawberry.UNSET,
        description="Let the people you follow back see when you are active; off also hides "
        "theirs from you.",
    )


def _given(value: T | None) -> T | Keep:
    return KEEP if value is None or value is strawberry.UNSET else value


def _edit(data: UpdateProfileInput) -> ProfileEdit:
    return ProfileEdit(
        full_name=_given(data.full_name),
        bio=_given(data.bio),
        website=KEEP if data.website is strawberry.UNSET else data.website,
        is_private=_given(data.is_private),
        show_activity_status=_given(data.show_activity_status),
    )


@strawberry.type
class ProfileEditMutation:
    @strawberry.mutation(permission_classes=[IsAuthenticated], description="Edit your profile.")
    async def update_profile(
        self, info: Info[Context, None], input: UpdateProfileInput
    ) -> UserType:
        viewer = require_viewer(info.context.viewer)
        profile = await info.context.services.profile_edits.update(viewer, _edit(input))
        return UserType.from_domain(profile)
