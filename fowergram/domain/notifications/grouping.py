"""How an intent joins its group (pure): one open (unread) row per recipient and group
key, its latest actors first and capped, every distinct actor counted once.

The store reads, under lock, the open group and when the actor last joined a group of
this key (its `created_at`, None if never), calls `merge`, and writes what it answers.
Reading a group closes it; the next event of the key starts a new one.

Two families of kinds:
- toggles (like, comment like, follows): an actor who already joined a group of this
  key (this window) changes nothing, even after reading it: un-like then like again,
  or unfollow then follow again, notifies once.
- content (comment, reply, mention): a repeat brings something new (another comment),
  so it bumps the group (the actor first, the newest comment shown) without being
  counted twice in it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fowergram.domain.notifications.model import NotificationKind
from fowergram.domain.notifications.rules import Intent

MAX_ACTORS = 3  # actors kept per group ("ana, bo and cy"); actor_count counts them all

TOGGLE_KINDS = frozenset(
    {
        NotificationKind.LIKE,
        NotificationKind.COMMENT_LIKE,
        NotificationKind.FOLLOW,
        NotificationKind.FOLLOW_REQUEST,
        NotificationKind.FOLLOW_ACCEPTED,
    }
)


@dataclass(frozen=True, slots=True)
class OpenGroup:
    id: int
    actor_ids: tuple[int, ...]
    actor_count: int
    created_at: datetime  # identifies the group: a later group of the key starts later


@dataclass(frozen=True, slots=True)
class GroupWrite:
    actor_ids: tuple[int, ...]
    actor_count: int
    group_id: int | None  # the open group to update (re-keyed); None: start a group


Merge = Callable[[Intent, OpenGroup | None, datetime | None], GroupWrite | None]


def merge(
    intent: Intent,
    group: OpenGroup | None,
    joined: datetime | None,
    *,
    cap: int = MAX_ACTORS,
) -> GroupWrite | None:
    """What to write for `intent`; None: nothing changes. `joined`: the `created_at` of
    the group of this key the actor last joined, None if they never did."""
    if joined is not None and intent.kind in TOGGLE_KINDS:
        return None
    actor = intent.actor_id
    if group is None:
        return GroupWrite((actor,), 1, None)
    actors = (actor, *(other for other in group.actor_ids if other != actor))[:cap]
    counted = joined is not None and joined == group.created_at
    count = group.actor_count if counted else group.actor_count + 1
    return GroupWrite(actors, max(count, len(actors)), group.id)
