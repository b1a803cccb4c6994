"""The social graph's rules: follow, request, approve, block, mute, as pure functions.

Each rule takes the state of a pair of people, read under lock by the store, and returns
the pair's next Relationship plus the events to record. The store persists the difference
(rows and counters) and the events in one transaction (STYLE 5: policies as pure functions).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from fowergram.domain.auth.ports import Rate
from fowergram.domain.errors import Conflict, NotFound
from fowergram.domain.events import DomainEvent
from fowergram.domain.ids import parse_id
from fowergram.domain.social.relationship import Owner, Relationship

MAX_FOLLOWING = 7_500  # Mastodon's and Pixelfed's cap
FOLLOWS_PER_HOUR = Rate(limit=150, window_s=60 * 60)
NO_SUCH_USER = "no such user"  # the same for unknown, deleted and hidden-by-block users


def parse_user_id(value: object, *, field: str = "userId") -> int:
    """A user id from a client's string (see `parse_id`)."""
    return parse_id(value, field=field)


@dataclass(frozen=True, slots=True)
class PairState:
    """What a graph write sees: the actor, the target and how they stand, read under lock."""

    actor_id: int
    actor_following_count: int
    target: Owner | None  # None: no such user
    relationship: Relationship


@dataclass(frozen=True, slots=True)
class Transition:
    after: Relationship
    events: tuple[DomainEvent, ...] = ()


def _event(kind: str, state: PairState) -> DomainEvent:
    target_id = state.target.user_id if state.target else None
    return DomainEvent(kind, target_id, {"actorId": state.actor_id, "targetId": target_id})


def _change(state: PairState, kind: str, **fields: bool) -> Transition:
    return Transition(replace(state.relationship, **fields), (_event(kind, state),))


def _unchanged(state: PairState) -> Transition:
    return Transition(state.relationship)


def _addressable(state: PairState) -> Owner:
    """The target, if the actor may act on them: they exist and have not blocked the actor."""
    target = state.target
    if target is None or target.deleted or state.relationship.blocked_by:
        raise NotFound(NO_SUCH_USER)
    return target


def follow(state: PairState, *, max_following: int = MAX_FOLLOWING) -> Transition:
    """Follow, or ask to if the account is private. Idempotent."""
    target, rel = _addressable(state), state.relationship
    if rel.blocking:
        raise Conflict("you block this user; unblock them to follow", field="userId")
    if rel.following:
        return _unchanged(state)
    if rel.requested and target.is_private:
        return _unchanged(state)
    if rel.requested:  # the account went public while the request waited: now a follow
        return _change(state, "user.followed", requested=False, following=True)
    if state.actor_following_count >= max_following:
        raise Conflict(f"you can follow at most {max_following} accounts", field="userId")
    if target.is_private:
        return _change(state, "follow.requested", requested=True)
    return _change(state, "user.followed", following=True)


def unfollow(state: PairState) -> Transition:
    """Stop following, or withdraw a pending request. Idempotent."""
    _addressable(state)
    rel = state.relationship
    if rel.following:
        return _change(state, "user.unfollowed", following=False)
    if rel.requested:
        return _change(state, "follow.cancelled", requested=False)
    return _unchanged(state)


def cancel_request(state: PairState) -> Transition:
    """Withdraw a pending request; an accepted follow is left alone. Idempotent."""
    _addressable(state)
    if state.relationship.requested:
        return _change(state, "follow.cancelled", requested=False)
    return _unchanged(state)


def approve_request(state: PairState) -> Transition:
    """Accept the target's request to follow the actor."""
    _addressable(state)
    rel = state.relationship
    if rel.followed_by:
        return _unchanged(state)
    if not rel.requested_by:
        raise NotFound("no follow request from this user")
    return _change(state, "follow.accepted", requested_by=False, followed_by=True)


def deny_request(state: PairState) -> Transition:
    """Refuse the target's request. Idempotent."""
    _addressable(state)
    if state.relationship.requested_by:
        return _change(state, "follow.denied", requested_by=False)
    return _unchanged(state)


def remove_follower(state: PairState) -> Transition:
    """Make the target stop following the actor. Idempotent."""
    _addressable(state)
    if state.relationship.followed_by:
        return _change(state, "user.follower_removed", followed_by=False)
    return _unchanged(state)


def block(state: PairState) -> Transition:
    """Block: follows and requests both ways go, in the same transaction. Idempotent."""
    _addressable(state)
    rel = state.relationship
    if rel.blocking:
        return _unchanged(state)
    after = Relationship(blocking=True, muting=rel.muting)
    return Transition(after, (_event("user.blocked", state),))


def unblock(state: PairState) -> Transition:
    """Lift the actor's block, even if the target blocks the actor too. Idempotent."""
    if state.relationship.blocking and state.target is not None:
        return _change(state, "user.unblocked", blocking=False)
    _addressable(state)
    return _unchanged(state)


def mute(state: PairState) -> Transition:
    _addressable(state)
    if state.relationship.muting:
        return _unchanged(state)
    return _change(state, "user.muted", muting=True)


def unmute(state: PairState) -> Transition:
    if state.relationship.muting and state.target is not None:
        return _change(state, "user.unmuted", muting=False)
    _addressable(state)
    return _unchanged(state)
