"""Reading and settling a viewer's notifications, their settings, and the resume by id.

Resume (`since`): the realtime hub replays what a client missed as the ids above its
last one, ascending. Retention deletes old read notifications and remembers the highest
id it deleted (`pruned_through`); a resume from below it may have lost rows, so it is
refused with ResyncRequired and the client reloads the list (`notifications(first:)`)
instead. Bumped groups are re-keyed with a fresh id, so a resume sees them again.
"""

from __future__ import annotations

from collections.abc import Iterable

from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.errors import BadUserInput, DomainError, ErrorCode
from fowergram.domain.notifications.model import (
    Notification,
    NotificationKind,
    NotificationSettings,
)
from fowergram.domain.notifications.ports import NotificationStore
from fowergram.domain.pagination import Key, Page, page_size

MAX_SINCE = 100  # rows per resume read; the hub reads again from the last id


class ResyncRequired(DomainError):
    """The resume point is older than what is kept: reload instead of replaying.

    Its code is CONFLICT (the request contradicts the server's state); clients tell it
    apart by `extensions.code` == "RESYNC_REQUIRED"."""

    CODE = "RESYNC_REQUIRED"

    def __init__(self, after_id: int, pruned_through: int) -> None:
        super().__init__(
            ErrorCode.CONFLICT,
            f"notifications after {after_id} are no longer kept; reload the list",
            field="after",
        )
        self.pruned_through = pruned_through

    def extensions(self) -> dict[str, object]:
        return super().extensions() | {"code": self.CODE, "prunedThrough": self.pruned_through}


class NotificationService:
    def __init__(self, *, store: NotificationStore) -> None:
        self._store = store

    async def page(
        self, viewer: Viewer, first: int | None, after: Key | None
    ) -> Page[Notification]:
        return await self._store.page(viewer.user_id, after, page_size(first))

    async def unread_count(self, viewer: Viewer) -> int:
        return await self._store.unread_count(viewer.user_id)

    async def mark_read(self, viewer: Viewer, up_to: int | None) -> int:
        """Mark read what the viewer has seen: unread rows with id <= up_to (every unread
        row if None). A group bumped since has a higher id and stays unread. Returns the
        unread count after."""
        return await self._store.mark_read(viewer.user_id, up_to)

    async def settings(self, viewer: Viewer) -> NotificationSettings:
        disabled = await self._store.disabled_kinds([viewer.user_id])
        return NotificationSettings(disabled.get(viewer.user_id, frozenset()))

    async def update_settings(
        self,
        viewer: Viewer,
        *,
        enable: Iterable[NotificationKind] = (),
        disable: Iterable[NotificationKind] = (),
    ) -> NotificationSettings:
        on, off = frozenset(enable), frozenset(disable)
        if both := on & off:
            kinds = ", ".join(sorted(kind.value for kind in both))
            raise BadUserInput(f"both enabled and disabled: {kinds}", field="input")
        return NotificationSettings(await self._store.update_settings(viewer.user_id, on, off))

    async def since(
        self, viewer_id: int, after_id: int, limit: int = MAX_SINCE
    ) -> list[Notification]:
        """The viewer's notifications with ids above `after_id`, ascending, at most `limit`
        (1..MAX_SINCE); ResyncRequired if rows after it may have been pruned."""
        if after_id < 0:
            raise BadUserInput("not a valid id", field="after")
        rows = await self._store.since(viewer_id, after_id, max(1, min(limit, MAX_SINCE)))
        # Checked after the read: a prune that committed before it is seen here.
        floor = await self._store.pruned_through()
        if after_id < floor:
            raise ResyncRequired(after_id, floor)
        return rows

    async def oldest_resumable_id(self) -> int:
        """The lowest `after` a resume accepts (what retention has not deleted past)."""
        return await self._store.pruned_through()
