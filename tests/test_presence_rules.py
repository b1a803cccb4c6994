"""Presence rules as pure functions, with an injected clock: devices, instances, dead
instances, transitions, last seen, who may see whom; the service over in-memory ports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from fowergram.adapters.nats.presence_events import (
    decode_presence,
    encode_presence,
    presence_subject,
)
from fowergram.domain.auth.viewer import Role, Viewer
from fowergram.domain.errors import BadUserInput
from fowergram.domain.presence import (
    HeldSockets,
    PresenceState,
    PresenceSubject,
    Socket,
    Status,
    can_see_presence,
    closed,
    dropped,
    opened,
    presence_of,
    stale_instances,
    transition,
)
from fowergram.domain.presence_service import (
    MAX_USER_IDS,
    AudienceFacts,
    PresenceService,
    parse_user_ids,
)
from fowergram.domain.social.relationship import NONE, Relationship
from fowergram.realtime.presence_keeper import PresenceOptions

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
TTL = timedelta(seconds=20)
PHONE = Socket("instance-a", "c1")
LAPTOP = Socket("instance-b", "c2")
TAB = Socket("instance-b", "c3")
MUTUAL = Relationship(following=True, followed_by=True)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_user_is_online_while_any_device_is_connected() -> None:
    nobody = HeldSockets(7)
    phone = opened(nobody, PHONE)
    both = opened(phone, LAPTOP)
    laptop_left = closed(both, PHONE, now=at(10))
    gone = closed(laptop_left, LAPTOP, now=at(25))

    assert presence_of(nobody) == PresenceState(7, Status.OFFLINE, None)
    assert presence_of(phone).online
    assert presence_of(both).online
    assert presence_of(laptop_left) == PresenceState(7, Status.ONLINE)  # no last seen shown
    assert presence_of(gone) == PresenceState(7, Status.OFFLINE, at(25))


def test_two_tabs_on_one_instance_are_two_sockets() -> None:
    both = opened(opened(HeldSockets(7), LAPTOP), TAB)
    assert presence_of(closed(both, TAB, now=at(1))).online
    assert not presence_of(closed(closed(both, TAB, now=at(1)), LAPTOP, now=at(2))).online


def test_closing_a_socket_that_is_not_held_changes_nothing() -> None:
    held = HeldSockets(7, frozenset({PHONE}), at(-100))
    assert closed(held, LAPTOP, now=at(5)) is held
    assert closed(HeldSockets(7), PHONE, now=at(5)) == HeldSockets(7)  # last seen untouched


def test_opening_the_same_socket_twice_holds_it_once() -> None:
    once = opened(HeldSockets(7), PHONE)
    assert opened(once, PHONE) == once
    assert not presence_of(closed(opened(once, PHONE), PHONE, now=at(1))).online


def test_an_instance_is_dead_once_its_heartbeat_is_older_than_the_bound() -> None:
    beats = {"fresh": at(-1), "edge": at(-20), "dead": at(-20.001), "older": at(-60)}
    stale = stale_instances(beats, now=T0, ttl=TTL)
    assert list(stale) == ["older", "dead"]  # oldest first
    assert stale == {"older": at(-60), "dead": at(-20.001)}
    assert stale_instances({}, now=T0, ttl=TTL) == {}
    # earlier, nothing was stale (heartbeats "from the future": another clock, ahead)
    assert stale_instances(beats, now=at(-41), ttl=TTL) == {}


def test_a_dead_instance_takes_only_its_own_sockets_away() -> None:
    held = HeldSockets(7, frozenset({PHONE, LAPTOP}))
    without_a = dropped(held, "instance-a", last_heartbeat=at(3))
    assert without_a.sockets == {LAPTOP}
    assert presence_of(without_a).online
    gone = dropped(without_a, "instance-b", last_heartbeat=at(8))
    assert presence_of(gone) == PresenceState(7, Status.OFFLINE, at(8))


def test_last_seen_of_a_dead_instance_is_its_last_heartbeat_unless_a_close_came_later() -> None:
    closed_later = HeldSockets(7, frozenset({PHONE}), last_seen_at=at(50))
    assert dropped(closed_later, "instance-a", last_heartbeat=at(40)).last_seen_at == at(50)
    closed_earlier = HeldSockets(7, frozenset({PHONE}), last_seen_at=at(30))
    assert dropped(closed_earlier, "instance-a", last_heartbeat=at(40)).last_seen_at == at(40)
    # an instance that held none of the user's sockets changes nothing
    assert dropped(closed_earlier, "instance-z", last_heartbeat=at(90)) is closed_earlier


def test_only_a_change_of_status_is_a_transition() -> None:
    offline = PresenceState(7, Status.OFFLINE, at(1))
    online = PresenceState(7, Status.ONLINE)
    assert transition(offline, online) == online
    assert transition(online, PresenceState(7, Status.OFFLINE, at(9))) == PresenceState(
        7, Status.OFFLINE, at(9)
    )
    assert transition(online, online) is None
    assert transition(offline, PresenceState(7, Status.OFFLINE, at(5))) is None


@pytest.mark.parametrize("first", [PHONE, LAPTOP])
def test_two_sockets_closing_at_once_yield_exactly_one_offline(first: Socket) -> None:
    # The store serialises the two closes: whichever comes first sees the other still open.
    second = LAPTOP if first is PHONE else PHONE
    held = HeldSockets(7, frozenset({PHONE, LAPTOP}))
    middle = closed(held, first, now=at(1))
    end = closed(middle, second, now=at(1))
    changes = [transition(presence_of(held), presence_of(middle))]
    changes.append(transition(presence_of(middle), presence_of(end)))
    assert changes == [None, PresenceState(7, Status.OFFLINE, at(1))]


def test_a_reconnect_before_the_sweep_is_no_news() -> None:
    # The phone's instance died; the phone reconnected elsewhere before the sweep.
    held = opened(HeldSockets(7, frozenset({PHONE})), Socket("instance-b", "c9"))
    after = dropped(held, "instance-a", last_heartbeat=at(0))
    assert transition(presence_of(held), presence_of(after)) is None


def subject(
    user_id: int = 2, *, shares: bool = True, rel: Relationship = MUTUAL
) -> PresenceSubject:
    return PresenceSubject(user_id, shares, rel)


@pytest.mark.parametrize(
    ("viewer_shares", "who", "visible"),
    [
        (True, subject(), True),  # both share, follow each other
        (True, subject(1, rel=NONE), True),  # yourself
        (False, subject(1, shares=False, rel=NONE), False),  # yourself, hidden
        (True, subject(shares=False), False),  # they hide theirs
        (False, subject(), False),  # you hide yours: you see no one's
        (True, subject(rel=Relationship(following=True)), False),  # one way
        (True, subject(rel=Relationship(followed_by=True)), False),  # the other way
        (True, subject(rel=Relationship(requested=True, requested_by=True)), False),  # pending
        (True, subject(rel=Relationship(following=True, followed_by=True, blocking=True)), False),
        (
            True,
            subject(rel=Relationship(following=True, followed_by=True, blocked_by=True)),
            False,
        ),
        (True, subject(rel=Relationship(following=True, followed_by=True, muting=True)), True),
        (True, PresenceSubject(2, True, MUTUAL, deleted=True), False),
        (True, subject(rel=NONE), False),  # strangers
    ],
)
def test_who_may_see_whose_presence(
    viewer_shares: bool, who: PresenceSubject, visible: bool
) -> None:
    assert can_see_presence(1, viewer_shares, who) is visible


def test_user_ids_are_parsed_deduplicated_and_bounded() -> None:
    assert parse_user_ids(["3", "1", "3", " 2 "]) == [3, 1, 2]
    assert parse_user_ids([]) == []
    assert len(parse_user_ids([str(i) for i in range(1, MAX_USER_IDS + 1)])) == MAX_USER_IDS
    with pytest.raises(BadUserInput) as too_many:
        parse_user_ids([str(i) for i in range(1, MAX_USER_IDS + 2)])
    assert too_many.value.field == "userIds"
    for bad in ["abc", "-1", "0", "1.5", "", "99999999999999999999", "١٢"]:
        with pytest.raises(BadUserInput):
            parse_user_ids(["1", bad])


class FakeTracker:
    def __init__(self, states: dict[int, PresenceState]) -> None:
        self.states = states
        self.asked: list[list[int]] = []

    async def connected(self, user_id: int, connection_id: str) -> None: ...

    async def connected_many(self, sockets: Sequence[tuple[int, str]]) -> None: ...

    async def disconnected(self, user_id: int, connection_id: str) -> None: ...

    async def snapshot(self, user_ids: Sequence[int]) -> dict[int, PresenceState]:
        self.asked.append(list(user_ids))
        return {u: self.states.get(u, PresenceState(u, Status.OFFLINE)) for u in user_ids}


class FakeAudience:
    def __init__(self, viewer_shares: bool, subjects: dict[int, PresenceSubject]) -> None:
        self.viewer_shares = viewer_shares
        self.subjects = subjects

    async def facts(self, viewer_id: int, user_ids: Sequence[int]) -> AudienceFacts:
        found = {u: s for u, s in self.subjects.items() if u in user_ids}
        return AudienceFacts(self.viewer_shares, found)

    async def shows_activity_status(self, user_id: int) -> bool | None:
        return self.viewer_shares


VIEWER = Viewer(1, "session", Role.USER)


async def test_the_service_answers_only_for_those_the_viewer_may_see_in_order() -> None:
    tracker = FakeTracker({2: PresenceState(2, Status.ONLINE)})
    audience = FakeAudience(
        True,
        {
            1: subject(1, rel=NONE),
            2: subject(2),
            3: subject(3, shares=False),
            4: subject(4, rel=Relationship(following=True)),
        },
    )
    service = PresenceService(tracker=tracker, audience=audience)

    states = await service.presence(VIEWER, ["4", "2", "99", "3", "1", "2"])

    assert states == [PresenceState(2, Status.ONLINE), PresenceState(1, Status.OFFLINE)]
    assert tracker.asked == [[2, 1]]  # the hidden are not even looked up


async def test_a_viewer_who_hides_theirs_gets_nothing_and_no_lookup() -> None:
    tracker = FakeTracker({})
    service = PresenceService(tracker=tracker, audience=FakeAudience(False, {2: subject(2)}))
    assert await service.presence(VIEWER, ["2"]) == []
    assert await service.presence(VIEWER, []) == []
    assert tracker.asked == []


def test_transitions_round_trip_through_their_wire_encoding() -> None:
    offline = PresenceState(42, Status.OFFLINE, datetime(2026, 11, 26, 12, 0, 1, 5000, UTC))
    online = PresenceState(42, Status.ONLINE)
    assert decode_presence(encode_presence(offline)) == offline
    assert decode_presence(encode_presence(online)) == online
    assert orjson.loads(encode_presence(offline)) == {
        "type": "presence",
        "userId": 42,
        "status": "offline",
        "lastSeenAt": "2026-11-26T12:00:01.005000+00:00",
    }
    assert presence_subject("fg", 42) == "fg.presence.42"


def test_the_instance_ttl_must_outlast_the_heartbeat() -> None:
    with pytest.raises(ValueError, match="TTL"):
        PresenceOptions(heartbeat_s=5, instance_ttl_s=5)
    assert PresenceOptions().instance_ttl_s == 20
