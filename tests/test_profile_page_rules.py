"""A profile read with its posts' first page applies the rules the two reads apply apart:
the profile's (blocks, deleted accounts) and the grid's (private accounts)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from fowergram.domain.errors import NotFound
from fowergram.domain.pagination import Page
from fowergram.domain.social.posts import Post, PostGrid
from fowergram.domain.social.profile_service import ProfileService
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import NONE, Relationship

AUTHOR, VIEWER = 1, 2
NOW = datetime(2026, 11, 27, tzinfo=UTC)


def _profile(*, private: bool = False) -> Profile:
    return Profile(AUTHOR, "ana", "Ana", "", None, None, private, 0, 0, 1, NOW)


GRID = PostGrid(
    Page.from_rows([((10,), Post(10, AUTHOR, "hi", (), 0, 0, NOW, None))], 12), frozenset({10})
)


class _Store:
    def __init__(self, profile: Profile | None, relation: Relationship) -> None:
        self.found = None if profile is None else (profile, relation, GRID)
        self.asked: list[tuple[int | None, str, int]] = []

    async def get_many(
        self, viewer_id: int | None, user_ids: Sequence[int]
    ) -> dict[int, tuple[Profile, Relationship]]:
        raise AssertionError("not this read")

    async def get_by_username(
        self, viewer_id: int | None, username: str
    ) -> tuple[Profile, Relationship] | None:
        raise AssertionError("not this read")

    async def get_with_grid(
        self, viewer_id: int | None, username: str, size: int
    ) -> tuple[Profile, Relationship, PostGrid] | None:
        self.asked.append((viewer_id, username, size))
        return self.found


async def test_a_public_profile_comes_with_its_grid_in_one_read() -> None:
    store = _Store(_profile(), NONE)
    page = await ProfileService(store=store).with_grid(VIEWER, "  ana ", 12)
    assert store.asked == [(VIEWER, "ana", 12)]
    assert page.profile.id == AUTHOR
    assert page.relationship == NONE
    assert page.posts() is GRID


async def test_signed_out_there_is_no_relationship() -> None:
    page = await ProfileService(store=_Store(_profile(), NONE)).with_grid(None, "ana", 12)
    assert page.relationship is None
    assert page.posts() is GRID


@pytest.mark.parametrize(
    ("relation", "viewer", "shown"),
    [
        (NONE, VIEWER, False),  # a stranger sees the profile, not the posts
        (Relationship(requested=True), VIEWER, False),  # a request is not a follow
        (Relationship(following=True), VIEWER, True),
        (NONE, AUTHOR, True),  # the account itself
        (NONE, None, False),
    ],
)
async def test_a_private_grid_is_for_approved_followers(
    relation: Relationship, viewer: int | None, shown: bool
) -> None:
    page = await ProfileService(store=_Store(_profile(private=True), relation)).with_grid(
        viewer, "ana", 12
    )
    assert page.profile.id == AUTHOR
    if shown:
        assert page.posts() is GRID
    else:
        with pytest.raises(NotFound, match="no such user"):
            page.posts()


@pytest.mark.parametrize(
    ("profile", "relation"),
    [
        (None, NONE),
        (_profile(), Relationship(blocking=True)),
        (_profile(), Relationship(blocked_by=True)),
        (Profile(AUTHOR, "ana", "Ana", "", None, None, False, 0, 0, 0, NOW, deleted=True), NONE),
    ],
)
async def test_missing_blocked_and_deleted_are_not_found(
    profile: Profile | None, relation: Relationship
) -> None:
    with pytest.raises(NotFound, match="no such user"):
        await ProfileService(store=_Store(profile, relation)).with_grid(VIEWER, "ana", 12)
