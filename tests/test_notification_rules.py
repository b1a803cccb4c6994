"""Notification rules without I/O: which events notify whom, who is spared (self, blocks,
mutes, settings, hidden content), how groups merge (window, actor cap, no double count),
the wire form, and the recorder's handling around its ports (in-memory fakes)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fowergram.domain.events import RecordedEvent
from fowergram.domain.notifications.grouping import (
    MAX_ACTORS,
    GroupWrite,
    Merge,
    OpenGroup,
    merge,
)
from fowergram.domain.notifications.model import (
    ALL_KINDS,
    Notification,
    NotificationKind,
    NotificationSettings,
    notification_from_wire,
    notification_to_wire,
)
from fowergram.domain.notifications.ports import Audience
from fowergram.domain.notifications.recorder import NotificationRecorder
from fowergram.domain.notifications.rules import Intent, deliverable, intents, owner_of
from fowergram.domain.social.relationship import NONE, Owner, Relationship

K = NotificationKind
AT = datetime(2026, 11, 26, 22, 30, tzinfo=UTC)


def _event(kind: str, aggregate: int | None, at: datetime = AT, **payload: Any) -> RecordedEvent:
    return RecordedEvent(id=1, kind=kind, aggregate_id=aggregate, payload=payload, created_at=at)


# --- mapping ---------------------------------------------------------------------------


def test_a_post_like_notifies_its_author() -> None:
    assert intents(_event("post.liked", 7, actorId=2, authorId=1)) == [
        Intent(1, K.LIKE, "like:post:7:2026-11-26", 2, 7)
    ]


def test_a_comment_like_notifies_the_comment_author() -> None:
    found = intents(_event("comment.liked", 9, actorId=2, authorId=3, postId=7))
    assert found == [Intent(3, K.COMMENT_LIKE, "comment_like:comment:9:2026-11-26", 2, 7, 9)]


def test_a_comment_notifies_the_post_author() -> None:
    event = _event(
        "comment.created", 9, postId=7, commentId=9, authorId=2, postAuthorId=1, parentId=None
    )
    assert intents(event) == [Intent(1, K.COMMENT, "comment:post:7:2026-11-26", 2, 7, 9)]


def test_a_reply_notifies_the_parent_author_and_the_post_author() -> None:
    event = _event(
        "comment.created", 10, postId=7, commentId=10, authorId=2, postAuthorId=1, parentId=9
    )
    assert intents(event, parent_author_id=3) == [
        Intent(3, K.REPLY, "reply:comment:9:2026-11-26", 2, 7, 10, content_owner_id=1),
        Intent(1, K.COMMENT, "comment:post:7:2026-11-26", 2, 7, 10),
    ]


def test_a_reply_to_the_post_authors_own_comment_notifies_them_once_as_a_reply() -> None:
    event = _event(
        "comment.created", 10, postId=7, commentId=10, authorId=2, postAuthorId=1, parentId=9
    )
    assert [i.kind for i in intents(event, parent_author_id=1)] == [K.REPLY]


def test_a_reply_whose_parent_is_gone_still_notifies_the_post_author() -> None:
    event = _event(
        "comment.created", 10, postId=7, commentId=10, authorId=2, postAuthorId=1, parentId=9
    )
    assert [i.kind for i in intents(event, parent_author_id=None)] == [K.COMMENT]


def test_replying_in_your_own_thread_on_your_own_post_notifies_nobody() -> None:
    event = _event(
        "comment.created", 10, postId=7, commentId=10, authorId=1, postAuthorId=1, parentId=9
    )
    assert intents(event, parent_author_id=1) == []


def test_a_post_notifies_everyone_it_mentions_but_its_author() -> None:
    found = intents(_event("post.created", 7, authorId=1, hashtags=[]), mentioned=[4, 1, 5, 4])
    assert found == [
        Intent(4, K.MENTION, "mention:post:7", 1, 7, content_owner_id=1),
        Intent(5, K.MENTION, "mention:post:7", 1, 7, content_owner_id=1),
    ]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("user.followed", K.FOLLOW),
        ("follow.requested", K.FOLLOW_REQUEST),
        ("follow.accepted", K.FOLLOW_ACCEPTED),
    ],
)
def test_graph_events_notify_their_target(kind: str, expected: NotificationKind) -> None:
    # follow.accepted: actorId approved the request of targetId, who hears of it.
    assert intents(_event(kind, 5, actorId=2, targetId=5)) == [
        Intent(5, expected, f"{expected.value}:2026-11-26", 2)
    ]


@pytest.mark.parametrize(
    "kind", ["post.unliked", "user.unfollowed", "follow.denied", "user.blocked", "post.edited"]
)
def test_other_events_notify_nobody(kind: str) -> None:
    assert intents(_event(kind, 5, actorId=2, targetId=5, authorId=5)) == []


@pytest.mark.parametrize(
    "event",
    [
        _event("post.liked", 7, actorId=1, authorId=1),
        _event("comment.liked", 9, actorId=3, authorId=3, postId=7),
        _event("user.followed", 2, actorId=2, targetId=2),
    ],
)
def test_your_own_actions_notify_nobody(event: RecordedEvent) -> None:
    assert intents(event) == []


@pytest.mark.parametrize(
    "event",
    [
        _event("post.liked", 7, actorId="2", authorId=1),
        _event("post.liked", None, actorId=2, authorId=1),
        _event("comment.liked", 9, actorId=2, authorId=3),
        _event("comment.created", 9, postId=7, authorId=2, postAuthorId=1),
        _event("user.followed", 5, actorId=True, targetId=5),
    ],
)
def test_a_malformed_payload_notifies_nobody_rather_than_failing(event: RecordedEvent) -> None:
    assert intents(event) == []


def test_events_that_can_meet_in_a_group_have_the_same_owner() -> None:
    """The recorder's lanes: two events whose intents share a group are handled in order,
    one after the other, because they have the same owner."""
    events = [
        _event("post.liked", 7, actorId=2, authorId=1),
        _event("post.liked", 7, actorId=3, authorId=1),
        _event("post.liked", 8, actorId=3, authorId=4),
        _event("comment.liked", 9, actorId=2, authorId=3, postId=7),
        _event("comment.liked", 9, actorId=5, authorId=3, postId=7),
        _event("comment.created", 10, postId=7, commentId=10, authorId=2, postAuthorId=1),
        _event(
            "comment.created", 11, postId=7, commentId=11, authorId=5, postAuthorId=1, parentId=9
        ),
        _event(
            "comment.created", 12, postId=7, commentId=12, authorId=6, postAuthorId=1, parentId=9
        ),
        _event("post.created", 13, authorId=1),
        _event("user.followed", 4, actorId=2, targetId=4),
        _event("user.followed", 4, actorId=3, targetId=4),
        _event("follow.requested", 4, actorId=5, targetId=4),
        _event("follow.accepted", 2, actorId=4, targetId=2),
    ]
    groups: dict[tuple[int, str], set[int | None]] = {}
    for event in events:
        parent_author = 3 if event.payload.get("parentId") == 9 else None
        for intent in intents(event, parent_author_id=parent_author, mentioned=[8]):
            groups.setdefault((intent.recipient_id, intent.group_key), set()).add(owner_of(event))
    assert len(groups) == 9
    assert all(len(owners) == 1 and None not in owners for owners in groups.values())
    assert [owner_of(event) for event in events[:3]] == [1, 1, 4]
    assert owner_of(events[3]) == 3
    assert owner_of(events[9]) == 4
    assert owner_of(_event("post.edited", 7, authorId=1)) is None


def test_the_window_is_the_utc_day_of_the_event() -> None:
    late = _event("post.liked", 7, AT.replace(hour=23, minute=59), actorId=2, authorId=1)
    next_day = _event("post.liked", 7, AT + timedelta(hours=2), actorId=3, authorId=1)
    # 07:00 on the 27th in Tokyo is 22:00 on the 26th in UTC.
    tokyo = datetime(2026, 11, 27, 7, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    same_day = _event("post.liked", 7, tokyo, actorId=4, authorId=1)
    assert intents(late)[0].group_key == "like:post:7:2026-11-26"
    assert intents(next_day)[0].group_key == "like:post:7:2026-11-27"
    assert intents(same_day)[0].group_key == "like:post:7:2026-11-26"


# --- who may receive -------------------------------------------------------------------

ACTOR, RECIPIENT, OWNER = 2, 1, 3
LIKE = Intent(RECIPIENT, K.LIKE, "like:post:7:2026-11-26", ACTOR, 7)
REPLY = Intent(RECIPIENT, K.REPLY, "reply:comment:9:d", ACTOR, 7, 10, content_owner_id=OWNER)


def _standings(
    actor: Relationship = NONE,
    *,
    deleted: bool = False,
    owner_private: bool = False,
    owner_rel: Relationship = NONE,
) -> dict[int, tuple[Owner, Relationship]]:
    return {
        ACTOR: (Owner(ACTOR, is_private=False, deleted=deleted), actor),
        OWNER: (Owner(OWNER, is_private=owner_private), owner_rel),
    }


def test_an_ordinary_intent_is_delivered() -> None:
    assert deliverable(LIKE, standings=_standings(), disabled=frozenset())
    assert deliverable(REPLY, standings=_standings(), disabled=frozenset())


@pytest.mark.parametrize(
    "rel",
    [
        Relationship(blocking=True),  # the recipient blocks the actor
        Relationship(blocked_by=True),  # the actor blocks the recipient
        Relationship(muting=True),  # the recipient mutes the actor
    ],
)
def test_blocks_either_way_and_mutes_stop_it(rel: Relationship) -> None:
    assert not deliverable(LIKE, standings=_standings(rel), disabled=frozenset())


def test_being_followed_by_the_actor_does_not_matter_but_deletion_does() -> None:
    assert deliverable(
        LIKE, standings=_standings(Relationship(followed_by=True)), disabled=frozenset()
    )
    assert not deliverable(LIKE, standings=_standings(deleted=True), disabled=frozenset())
    assert not deliverable(LIKE, standings={}, disabled=frozenset())  # unknown actor


def test_a_disabled_kind_is_not_delivered_and_others_still_are() -> None:
    assert not deliverable(LIKE, standings=_standings(), disabled=frozenset({K.LIKE}))
    assert deliverable(LIKE, standings=_standings(), disabled=frozenset({K.COMMENT, K.FOLLOW}))


def test_your_own_action_is_never_delivered() -> None:
    own = Intent(ACTOR, K.LIKE, "like:post:7:d", ACTOR, 7)
    assert not deliverable(own, standings=_standings(), disabled=frozenset())


def test_content_the_recipient_may_not_see_is_not_talked_about() -> None:
    private = _standings(owner_private=True)
    assert not deliverable(REPLY, standings=private, disabled=frozenset())
    follower = _standings(owner_private=True, owner_rel=Relationship(following=True))
    assert deliverable(REPLY, standings=follower, disabled=frozenset())
    blocked = _standings(owner_rel=Relationship(blocked_by=True))
    assert not deliverable(REPLY, standings=blocked, disabled=frozenset())


# --- grouping --------------------------------------------------------------------------

OPENED = AT - timedelta(hours=1)


def _like(actor: int) -> Intent:
    return Intent(RECIPIENT, K.LIKE, "like:post:7:2026-11-26", actor, 7)


def _comment(actor: int) -> Intent:
    return Intent(RECIPIENT, K.COMMENT, "comment:post:7:2026-11-26", actor, 7, 100 + actor)


def test_the_first_actor_starts_a_group() -> None:
    assert merge(_like(2), None, None) == GroupWrite((2,), 1, None)


def test_new_actors_go_first_and_are_counted_with_the_latest_few_kept() -> None:
    group = OpenGroup(50, (4, 3, 2), 3, OPENED)
    assert merge(_like(5), group, None) == GroupWrite((5, 4, 3), 4, 50)
    assert MAX_ACTORS == 3


def test_simulated_run_ana_and_two_others() -> None:
    group: OpenGroup | None = None
    joined: dict[int, datetime] = {}
    for actor in (2, 3, 4, 3, 2, 5, 2):  # likes, with un-like/like again in between
        change = merge(_like(actor), group, joined.get(actor))
        if change is None:
            continue
        group = OpenGroup(
            group.id + 1 if group else 1, change.actor_ids, change.actor_count, OPENED
        )
        joined[actor] = OPENED
    assert group is not None
    assert (group.actor_ids, group.actor_count) == ((5, 4, 3), 4)


def test_liking_again_after_an_unlike_changes_nothing_even_once_read() -> None:
    group = OpenGroup(50, (3, 2), 2, OPENED)
    assert merge(_like(2), group, OPENED) is None
    assert merge(_like(2), None, OPENED - timedelta(hours=3)) is None  # its group was read


def test_an_actor_pushed_out_of_the_kept_few_is_not_counted_twice() -> None:
    group = OpenGroup(50, (5, 4, 3), 4, OPENED)  # 2 was the first, no longer kept
    assert merge(_comment(2), group, OPENED) == GroupWrite((2, 5, 4), 4, 50)


def test_a_repeat_comment_bumps_the_group_without_counting_the_actor_again() -> None:
    group = OpenGroup(50, (3, 2), 2, OPENED)
    assert merge(_comment(2), group, OPENED) == GroupWrite((2, 3), 2, 50)


def test_a_comment_after_the_group_was_read_starts_a_new_group_counting_from_one() -> None:
    earlier = OPENED - timedelta(hours=5)
    assert merge(_comment(2), None, earlier) == GroupWrite((2,), 1, None)
    newer = OpenGroup(60, (3,), 1, OPENED)  # a later group, which 2 has not joined
    assert merge(_comment(2), newer, earlier) == GroupWrite((2, 3), 2, 60)


def test_the_count_never_falls_below_the_actors_kept() -> None:
    odd = OpenGroup(50, (3, 2), 1, OPENED)  # e.g. written by an older version
    change = merge(_comment(4), odd, OPENED)
    assert change is not None
    assert change.actor_count >= len(change.actor_ids)


# --- model -----------------------------------------------------------------------------


def _notification(**changes: Any) -> Notification:
    values: dict[str, Any] = {
        "id": 41,
        "recipient_id": 1,
        "kind": K.COMMENT,
        "group_key": "comment:post:7:2026-11-26",
        "actor_ids": (4, 3),
        "actor_count": 5,
        "post_id": 7,
        "comment_id": 9,
        "created_at": AT,
        "updated_at": AT + timedelta(minutes=3),
        "read_at": None,
    }
    return Notification(**(values | changes))


@pytest.mark.parametrize(
    "notification",
    [
        _notification(),
        _notification(kind=K.FOLLOW, post_id=None, comment_id=None, read_at=AT),
    ],
)
def test_the_wire_form_round_trips_through_json(notification: Notification) -> None:
    import orjson

    wire = orjson.loads(orjson.dumps(notification_to_wire(notification)))
    assert wire["id"] == notification.id
    assert isinstance(wire["actorIds"][0], int)
    assert wire["kind"] == notification.kind.value
    assert notification_from_wire(wire) == notification


def test_settings_list_what_is_on() -> None:
    settings = NotificationSettings(frozenset({K.LIKE}))
    assert settings.enabled == ALL_KINDS - {K.LIKE}
    assert NotificationSettings().enabled == ALL_KINDS


# --- the recorder around its ports -------------------------------------------------------


class _Store:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, int, list[Intent]]] = []
        self.disabled: dict[int, frozenset[NotificationKind]] = {}

    async def record(
        self, consumer: str, event_id: int, intents: Sequence[Intent], merge: Merge
    ) -> list[Notification] | None:
        self.recorded.append((consumer, event_id, list(intents)))
        return [_notification(recipient_id=i.recipient_id, kind=i.kind) for i in intents]


class _Facts:
    async def comment_author(self, comment_id: int) -> int | None:
        return 3 if comment_id == 9 else None

    async def mentioned_users(self, post_id: int) -> list[int]:
        return [4, 5]


class _Audiences:
    def __init__(self, store: _Store, muted_by: set[int]) -> None:
        self.store = store
        self.muted_by = muted_by
        self.read: list[tuple[int, list[int]]] = []

    async def audience(self, recipient_id: int, people: Sequence[int]) -> Audience:
        self.read.append((recipient_id, list(people)))
        rel = Relationship(muting=recipient_id in self.muted_by)
        return Audience(
            self.store.disabled.get(recipient_id, frozenset()),
            {user: (Owner(user, is_private=False), rel) for user in people},
        )


class _Live:
    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[int, dict[str, Any]]] = []
        self.fail = fail

    async def to_user(self, user_id: int, message: dict[str, Any]) -> None:
        if self.fail:
            raise ConnectionError("NATS is away")
        self.sent.append((user_id, message))


def _recorder(store: _Store, live: _Live, muted_by: set[int] | None = None) -> NotificationRecorder:
    return NotificationRecorder(
        store=store,  # type: ignore[arg-type]  # only what the recorder calls
        facts=_Facts(),
        audiences=_Audiences(store, muted_by or set()),
        live=live,
    )


async def test_the_recorder_writes_what_recipients_accept_and_pushes_it_live() -> None:
    store, live = _Store(), _Live()
    store.disabled = {5: frozenset({K.MENTION})}
    await _recorder(store, live).handle(_event("post.created", 7, authorId=1, hashtags=[]))
    assert [(c, e, [i.recipient_id for i in found]) for c, e, found in store.recorded] == [
        ("notifications", 1, [4])
    ]
    assert [(user, message["type"]) for user, message in live.sent] == [(4, "notification")]
    assert live.sent[0][1]["notification"]["kind"] == "mention"


async def test_the_recorder_reads_each_recipient_once() -> None:
    store, live = _Store(), _Live()
    audiences = _Audiences(store, set())
    recorder = NotificationRecorder(store=store, facts=_Facts(), audiences=audiences, live=live)  # type: ignore[arg-type]
    await recorder.handle(_event("post.created", 7, authorId=1, hashtags=[]))  # mentions 4, 5
    assert sorted(audiences.read) == [(4, [1]), (5, [1])]
    audiences.read.clear()
    await recorder.handle(_event("post.liked", 7, actorId=2, authorId=1))
    assert audiences.read == [(1, [2])]


async def test_the_recorder_reads_the_parent_author_for_a_reply() -> None:
    store, live = _Store(), _Live()
    event = _event(
        "comment.created", 10, postId=7, commentId=10, authorId=2, postAuthorId=1, parentId=9
    )
    await _recorder(store, live, muted_by={1}).handle(event)  # the post author mutes 2
    assert [(i.recipient_id, i.kind) for i in store.recorded[0][2]] == [(3, K.REPLY)]


async def test_the_recorder_writes_nothing_when_nobody_accepts_and_ignores_other_kinds() -> None:
    store, live = _Store(), _Live()
    recorder = _recorder(store, live, muted_by={1})
    await recorder.handle(_event("post.liked", 7, actorId=2, authorId=1))
    await recorder.handle(_event("post.unliked", 7, actorId=2, authorId=1))
    assert store.recorded == []
    assert live.sent == []
    assert "post.unliked" not in recorder.kinds
    assert "post.liked" in recorder.kinds


async def test_a_failed_live_push_does_not_fail_the_handled_event() -> None:
    store = _Store()
    await _recorder(store, _Live(fail=True)).handle(_event("post.liked", 7, actorId=2, authorId=1))
    assert len(store.recorded) == 1  # committed; the client resumes from the database
