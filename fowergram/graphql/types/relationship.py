from __future__ import annotations

import strawberry

from fowergram.domain.social.relationship import Relationship


@strawberry.type(
    name="Relationship",
    description="How the viewer stands to another person (like Mastodon's Relationship).",
)
class RelationshipType:
    user_id: strawberry.ID
    following: bool
    followed_by: bool
    requested: bool = strawberry.field(description="The viewer asked to follow; not yet approved.")
    requested_by: bool = strawberry.field(description="They asked to follow the viewer.")
    blocking: bool
    blocked_by: bool
    muting: bool

    @classmethod
    def from_domain(cls, user_id: int, rel: Relationship) -> RelationshipType:
        return cls(
            user_id=strawberry.ID(str(user_id)),
            following=rel.following,
            followed_by=rel.followed_by,
            requested=rel.requested,
            requested_by=rel.requested_by,
            blocking=rel.blocking,
            blocked_by=rel.blocked_by,
            muting=rel.muting,
        )
