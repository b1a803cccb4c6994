"""Presence rules: who is online, since when offline, what changed, and who may see it.

Pure functions of frozen state (STYLE 5, after Synapse's presence handler); the Redis
store does the I/O around them and hands back the state it held before each change.

- A user is online while any of their sockets is held: several devices, each on whichever
  instance it reached. Every socket is held under the instance that accepted it.
- Each instance beats a heartbeat. One whose last beat is older than the bound is stale
  (`stale_instances`); the sweep then drops its sockets (`dropped`), so its users go
  offline at once, last seen at its last heartbeat (the last moment it was known alive).
- `last_seen_at` is set whenever a held socket closes, so while offline it is when the
  last one closed (or its instance died); while online it is not shown.
- `transition(previous, new)`: only a real change of status is published.
- `can_see_presence`: Instagram's "Show activity status" — both people must share it,
  be the same person or follow each other, and neither may block the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from fowergram.domain.social.relationship import Relationship


class Status(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class Socket:
    """One open WebSocket: the instance holding it and the hub's id for it."""

    instance_id: str
    connection_id: str


@dataclass(frozen=True, slots=True)
class HeldSockets:
    """What the store holds for one user."""

    user_id: int
    sockets: frozenset[Socket] = frozenset()
    last_seen_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PresenceState:
    """What others may be shown. `last_seen_at` is None while online (or never seen)."""

    user_id: int
    status: Status
    last_seen_at: datetime | None = None

    @property
    def online(self) -> bool:
        return self.status is Status.ONLINE


def presence_of(held: HeldSockets) -> PresenceState:
    if held.sockets:
        return PresenceState(held.user_id, Status.ONLINE)
    return PresenceState(held.user_id, Status.OFFLINE, held.last_seen_at)


def opened(held: HeldSockets, socket: Socket) -> HeldSockets:
    return replace(held, sockets=held.sockets | {socket})


def closed(held: HeldSockets, socket: Socket, *, now: datetime) -> HeldSockets:
    """A socket closed at `now`; closing one that is not held changes nothing."""
    if socket not in held.sockets:
        return held
    return replace(held, sockets=held.sockets - {socket}, last_seen_at=now)


def dropped(held: HeldSockets, instance_id: str, *, last_heartbeat: datetime) -> HeldSockets:
    """The instance died: its sockets go, as if closed at its last heartbeat (a later
    close, of a socket on another instance, stays the last seen)."""
    kept = frozenset(socket for socket in held.sockets if socket.instance_id != instance_id)
    if kept == held.sockets:
        return held
    seen = held.last_seen_at
    if seen is None or seen < last_heartbeat:
        seen = last_heartbeat
    return replace(held, sockets=kept, last_seen_at=seen)


def is_stale(last_heartbeat: datetime, *, now: datetime, ttl: timedelta) -> bool:
    return now - last_heartbeat > ttl


def stale_instances(
    heartbeats: Mapping[str, datetime], *, now: datetime, ttl: timedelta
) -> dict[str, datetime]:
    """The instances to declare dead, with their last heartbeat, oldest first."""
    stale = [
        (beat, instance)
        for instance, beat in heartbeats.items()
        if is_stale(beat, now=now, ttl=ttl)
    ]
    return {instance: beat for beat, instance in sorted(stale)}


def transition(previous: PresenceState, new: PresenceState) -> PresenceState | None:
    """The state to publish, or None when the status did not change (another socket of
    an online user opening or closing is no news)."""
    return new if new.status is not previous.status else None


@dataclass(frozen=True, slots=True)
class PresenceSubject:
    """What the visibility rule needs to know about one person, from the viewer's side."""

    user_id: int
    shares: bool  # their "show activity status"
    relationship: Relationship  # the viewer's to them (all false for the viewer)
    deleted: bool = False


def can_see_presence(viewer_id: int, viewer_shares: bool, subject: PresenceSubject) -> bool:
    """Both share their status (who hides theirs sees no one's: Instagram's rule), the
    subject is the viewer or they follow each other, and no block stands either way."""
    rel = subject.relationship
    if subject.deleted or not (subject.shares and viewer_shares):
        return False
    if rel.blocking or rel.blocked_by:
        return False
    return subject.user_id == viewer_id or (rel.following and rel.followed_by)
