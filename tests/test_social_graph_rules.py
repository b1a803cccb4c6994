"""The graph's rules as pure functions of a pair's state: no I/O."""

from __future__ import annotations

import pytest

from fowergram.domain.errors import BadUserInput, Conflict, NotFound
from fowergram.domain.social import graph
from fowergram.domain.social.graph import PairState, parse_user_id
from fowergram.domain.social.relationship import NONE, Owner, Relationship

ME, THEM = 1, 2


def _state(
    rel: Relationship = NONE, *, private: bool = False, following_count: int = 0
) -> PairState:
    return PairState(ME, following_count, Owner(THEM, private), rel)


def test_follow_public_private_and_repeated() -> None:
    public = graph.follow(_state())
    private = graph.follow(_state(private=True))

    assert public.after == Relationship(following=True)
    assert [e.kind for e in public.events] == ["user.followed"]
    assert public.events[0].payload == {"actorId": ME, "targetId": THEM}
    assert public.events[0].aggregate_id == THEM
    assert private.after == Relationship(requested=True)
    assert [e.kind for e in private.events] == ["follow.requested"]
    assert graph.follow(_state(public.after)).events == ()
    assert graph.follow(_state(private.after, private=True)).events == ()


def test_a_request_to_an_account_gone_public_becomes_a_follow() -> None:
    moved = graph.follow(_state(Relationship(requested=True), private=False))
    assert moved.after == Relationship(following=True)


def test_cap_and_blocks_refuse_a_follow() -> None:
    with pytest.raises(Conflict):
        graph.follow(_state(following_count=3), max_following=3)
    with pytest.raises(Conflict):
        graph.follow(_state(Relationship(blocking=True)))
    with pytest.raises(NotFound):
        graph.follow(_state(Relationship(blocked_by=True)))
    with pytest.raises(NotFound):
        graph.follow(PairState(ME, 0, None, NONE))
    with pytest.raises(NotFound):
        graph.follow(PairState(ME, 0, Owner(THEM, False, deleted=True), NONE))


def test_block_clears_follows_both_ways_and_keeps_the_mute() -> None:
    rel = Relationship(following=True, followed_by=True, muting=True)
    blocked = graph.block(_state(rel))
    assert blocked.after == Relationship(blocking=True, muting=True)
    assert graph.unblock(_state(blocked.after)).after == Relationship(muting=True)
    # Lifting your own block works even while they block you too.
    mutual = Relationship(blocking=True, blocked_by=True)
    assert graph.unblock(_state(mutual)).after == Relationship(blocked_by=True)


def test_requests_approve_deny_cancel_remove() -> None:
    asked = Relationship(requested_by=True)
    assert graph.approve_request(_state(asked)).after == Relationship(followed_by=True)
    assert graph.deny_request(_state(asked)).after == NONE
    assert graph.deny_request(_state()).events == ()
    with pytest.raises(NotFound):
        graph.approve_request(_state())
    assert graph.cancel_request(_state(Relationship(requested=True))).after == NONE
    assert graph.cancel_request(_state(Relationship(following=True))).events == ()
    assert graph.unfollow(_state(Relationship(requested=True))).events[0].kind == (
        "follow.cancelled"
    )
    removed = graph.remove_follower(_state(Relationship(followed_by=True)))
    assert [e.kind for e in removed.events] == ["user.follower_removed"]


def test_mute_and_unmute() -> None:
    assert graph.mute(_state()).after == Relationship(muting=True)
    assert graph.mute(_state(Relationship(muting=True))).events == ()
    assert graph.unmute(_state(Relationship(muting=True))).after == NONE


@pytest.mark.parametrize(
    "value", ["", "0", "-3", "abc", "1e3", "٣", "9223372036854775808", "1 OR 1=1", " "]
)
def test_malformed_ids(value: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        parse_user_id(value)
    assert refused.value.field == "userId"


def test_well_formed_ids() -> None:
    assert parse_user_id("42") == 42
    assert parse_user_id(" 9223372036854775807 ") == 2**63 - 1
