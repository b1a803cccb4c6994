"""The social graph over GraphQL: follow, requests, block, mute, relationship; thin resolvers
over GraphService, each write answering with the viewer's relationship afterwards."""

from __future__ import annotations

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from fowergram.domain.auth.viewer import Viewer, require_viewer
from fowergram.domain.social.graph import parse_user_id
from fowergram.domain.social.graph_service import GraphService
from fowergram.domain.social.relationship import Relationship
from fowergram.graphql.connection import Connection
from fowergram.graphql.context import Context
from fowergram.graphql.permissions import IsAuthenticated
from fowergram.graphql.types.relationship import RelationshipType
from fowergram.graphql.types.user import UserType


def _signed_in(info: Info[Context, None]) -> tuple[GraphService, Viewer]:
    return info.context.services.graph, require_viewer(info.context.viewer)


def _answer(user_id: strawberry.ID, rel: Relationship) -> RelationshipType:
    return RelationshipType.from_domain(parse_user_id(user_id), rel)


_AUTH: list[type[BasePermission]] = [IsAuthenticated]


@strawberry.type
class GraphQuery:
    @strawberry.field(permission_classes=_AUTH, description="How you stand to one person.")
    async def relationship(
        self, info: Info[Context, None], user_id: strawberry.ID
    ) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.relationship(viewer, user_id))

    @strawberry.field(
        permission_classes=_AUTH, description="People asking to follow you, newest first."
    )
    async def follow_requests(
        self, info: Info[Context, None], first: int | None = None, after: str | None = None
    ) -> Connection[UserType]:
        graph, viewer = _signed_in(info)
        page = await graph.requests(viewer, first, after)
        return Connection.from_page(page, UserType.from_domain)


@strawberry.type
class GraphMutation:
    @strawberry.mutation(
        permission_classes=_AUTH,
        description="Follow (idempotent); a private account gets a follow request instead.",
    )
    async def follow(self, info: Info[Context, None], user_id: strawberry.ID) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.follow(viewer, user_id))

    @strawberry.mutation(
        permission_classes=_AUTH, description="Stop following, or withdraw a request."
    )
    async def unfollow(self, info: Info[Context, None], user_id: strawberry.ID) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.unfollow(viewer, user_id))

    @strawberry.mutation(permission_classes=_AUTH, description="Withdraw your follow request.")
    async def cancel_follow_request(
        self, info: Info[Context, None], user_id: strawberry.ID
    ) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.cancel_request(viewer, user_id))

    @strawberry.mutation(permission_classes=_AUTH, description="Let them follow you.")
    async def approve_follow_request(
        self, info: Info[Context, None], user_id: strawberry.ID
    ) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.approve_request(viewer, user_id))

    @strawberry.mutation(permission_classes=_AUTH, description="Refuse their follow request.")
    async def deny_follow_request(
        self, info: Info[Context, None], user_id: strawberry.ID
    ) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.deny_request(viewer, user_id))

    @strawberry.mutation(permission_classes=_AUTH, description="Make them stop following you.")
    async def remove_follower(
        self, info: Info[Context, None], user_id: strawberry.ID
    ) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.remove_follower(viewer, user_id))

    @strawberry.mutation(
        permission_classes=_AUTH,
        description="Block: you no longer see each other; follows and requests both ways end.",
    )
    async def block(self, info: Info[Context, None], user_id: strawberry.ID) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.block(viewer, user_id))

    @strawberry.mutation(permission_classes=_AUTH)
    async def unblock(self, info: Info[Context, None], user_id: strawberry.ID) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.unblock(viewer, user_id))

    @strawberry.mutation(permission_classes=_AUTH, description="Hide their posts from you.")
    async def mute(self, info: Info[Context, None], user_id: strawberry.ID) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.mute(viewer, user_id))

    @strawberry.mutation(permission_classes=_AUTH)
    async def unmute(self, info: Info[Context, None], user_id: strawberry.ID) -> RelationshipType:
        graph, viewer = _signed_in(info)
        return _answer(user_id, await graph.unmute(viewer, user_id))
