"""Use cases of the social graph: writes through the rules in `graph`, lists through the
visibility rules in `relationship`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from fowergram.domain.auth.ports import Rate, RateLimiter
from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.errors import BadUserInput, Forbidden, NotFound
from fowergram.domain.pagination import Key, Page, decode_cursor, page_size
from fowergram.domain.social import graph
from fowergram.domain.social.graph import FOLLOWS_PER_HOUR, MAX_FOLLOWING, PairState, Transition
from fowergram.domain.social.ports import Relationships, Standings
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import (
    NONE,
    Relationship,
    can_see_content,
    can_see_profile,
)

Rule = Callable[[PairState], Transition]
CURSOR_ARITY = 2  # (created_at in microseconds since the epoch, user id)
_MAX_MICROSECONDS = 253_402_300_799_999_999  # the end of year 9999
_MAX_BIGINT = 2**63 - 1


def _cursor(after: str | None) -> Key | None:
    key = decode_cursor(after, arity=CURSOR_ARITY)
    if key is not None and not (0 <= key[0] <= _MAX_MICROSECONDS and 0 < key[1] <= _MAX_BIGINT):
        raise BadUserInput("invalid cursor", field="after")
    return key


class GraphStore(Protocol):
    async def change(self, actor_id: int, target_id: int, rule: Rule) -> Transition:
        """In one transaction: lock both people, read their PairState, apply `rule`, write
        the difference (follow, block and mute rows, counters) and the rule's events."""
        ...

    async def followers(
        self, user_id: int, limit: int, after: Key | None
    ) -> Sequence[tuple[Key, Profile]]:
        """Accepted followers of `user_id`, newest first."""
        ...

    async def following(
        self, user_id: int, limit: int, after: Key | None
    ) -> Sequence[tuple[Key, Profile]]:
        """Accounts `user_id` follows (accepted), newest first."""
        ...

    async def requests(
        self, user_id: int, limit: int, after: Key | None
    ) -> Sequence[tuple[Key, Profile]]:
        """People waiting for `user_id` to approve their follow request, newest first."""
        ...


class GraphService:
    def __init__(
        self,
        *,
        store: GraphStore,
        standings: Standings,
        relationships: Relationships,
        limiter: RateLimiter,
        max_following: int = MAX_FOLLOWING,
        follow_rate: Rate = FOLLOWS_PER_HOUR,
    ) -> None:
        self._store = store
        self._standings = standings
        self._relationships = relationships
        self._limiter = limiter
        self._max_following = max_following
        self._follow_rate = follow_rate

    # Writes: each returns the viewer's relationship to the other person afterwards.

    async def follow(self, viewer: Viewer, user_id: object) -> Relationship:
        target = self._other(viewer, user_id)
        await self._limiter.hit(f"follow:{viewer.user_id}", self._follow_rate)
        limit = self._max_following
        return await self._apply(viewer, target, lambda s: graph.follow(s, max_following=limit))

    async def unfollow(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.unfollow)

    async def cancel_request(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.cancel_request)

    async def approve_request(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.approve_request)

    async def deny_request(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.deny_request)

    async def remove_follower(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.remove_follower)

    async def block(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.block)

    async def unblock(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.unblock)

    async def mute(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.mute)

    async def unmute(self, viewer: Viewer, user_id: object) -> Relationship:
        return await self._apply(viewer, self._other(viewer, user_id), graph.unmute)

    # Reads.

    async def relationship(self, viewer: Viewer, user_id: object) -> Relationship:
        """How the viewer stands to one person; NOT_FOUND if unknown or they block the viewer."""
        target = graph.parse_user_id(user_id)
        if target == viewer.user_id:
            return NONE
        standing = (await self._standings.standing(viewer.user_id, [target])).get(target)
        if standing is None or standing[0].deleted or standing[1].blocked_by:
            raise NotFound(graph.NO_SUCH_USER)
        return standing[1]

    async def relationships(self, viewer_id: int, user_ids: Sequence[int]) -> list[Relationship]:
        """The DataLoader's batch: one relationship per id, in order (yourself: all false)."""
        found = await self._relationships.between(viewer_id, user_ids)
        return [found.get(user_id, NONE) for user_id in user_ids]

    async def followers(
        self, viewer_id: int | None, user_id: int, first: int | None, after: str | None
    ) -> Page[Profile]:
        return await self._list(viewer_id, user_id, first, after, self._store.followers)

    async def following(
        self, viewer_id: int | None, user_id: int, first: int | None, after: str | None
    ) -> Page[Profile]:
        return await self._list(viewer_id, user_id, first, after, self._store.following)

    async def requests(self, viewer: Viewer, first: int | None, after: str | None) -> Page[Profile]:
        size, key = page_size(first), _cursor(after)
        rows = await self._store.requests(viewer.user_id, size + 1, key)
        page = Page.from_rows(rows, size)
        relations = await self._relationships.between(viewer.user_id, [p.id for p in page.items])
        return page.keep(
            lambda p: can_see_profile(viewer.user_id, p.owner, relations.get(p.id, NONE))
        )

    # Helpers.

    @staticmethod
    def _other(viewer: Viewer, user_id: object) -> int:
        target = graph.parse_user_id(user_id)
        if target == viewer.user_id:
            raise BadUserInput("you cannot do that to yourself", field="userId")
        return target

    async def _apply(self, viewer: Viewer, target: int, rule: Rule) -> Relationship:
        transition = await self._store.change(viewer.user_id, target, rule)
        return transition.after

    async def _list(
        self,
        viewer_id: int | None,
        owner_id: int,
        first: int | None,
        after: str | None,
        fetch: Callable[[int, int, Key | None], Awaitable[Sequence[tuple[Key, Profile]]]],
    ) -> Page[Profile]:
        size, key = page_size(first), _cursor(after)
        standing = (await self._standings.standing(viewer_id, [owner_id])).get(owner_id)
        if standing is None:
            raise NotFound(graph.NO_SUCH_USER)
        owner, owner_rel = standing
        rows = await fetch(owner_id, size + 1, key)
        page = Page.from_rows(rows, size)
        ids = [profile.id for profile in page.items]
        relations = await self._relationships.between(viewer_id, ids) if viewer_id else {}
        if not can_see_profile(viewer_id, owner, owner_rel):
            raise NotFound(graph.NO_SUCH_USER)
        if not can_see_content(viewer_id, owner, owner_rel):
            raise Forbidden("this account is private")
        return page.keep(lambda p: can_see_profile(viewer_id, p.owner, relations.get(p.id, NONE)))
