"""The notifications consumer's handler: domain events in, grouped notifications out.

For each event: read the facts the rules need (a reply's parent author, a post's
mentions), map it to intents, keep those each recipient accepts (blocks, mutes, settings,
visibility), then write them in one transaction that also marks the event handled, so a
re-delivered event changes nothing twice. After the commit each created or bumped
notification goes to its recipient's live channel; that push is best effort (a client
that missed it resumes from PostgreSQL), so its failure is logged, not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from fowergram.domain.events import RecordedEvent
from fowergram.domain.notifications import grouping, rules
from fowergram.domain.notifications.model import Notification, notification_to_wire
from fowergram.domain.notifications.ports import (
    Audience,
    Audiences,
    EventFacts,
    LiveChannel,
    NotificationStore,
)
from fowergram.domain.notifications.rules import Intent

log = logging.getLogger(__name__)

CONSUMER = "notifications"


def live_message(notification: Notification) -> dict[str, object]:
    """What the recipient's live channel carries for a created or bumped notification."""
    return {"type": "notification", "notification": notification_to_wire(notification)}


class NotificationRecorder:
    kinds: frozenset[str] = rules.EVENT_KINDS

    def __init__(
        self,
        *,
        store: NotificationStore,
        facts: EventFacts,
        audiences: Audiences,
        live: LiveChannel,
        consumer: str = CONSUMER,
    ) -> None:
        self._store = store
        self._facts = facts
        self._audiences = audiences
        self._live = live
        self._consumer = consumer

    def lane(self, event: RecordedEvent) -> int | None:
        """The owner of what the event is about (the liked post's or comment's author, the
        commented post's author, the followed user): every group an event can join is
        about something one user owns, so events meeting in a group share a lane."""
        return rules.owner_of(event)

    async def handle(self, event: RecordedEvent) -> None:
        if event.kind not in self.kinds:
            return
        wanted = await self._accepted(await self._intents(event))
        if not wanted:
            return
        written = await self._store.record(self._consumer, event.id, wanted, grouping.merge)
        for notification in written or ():
            try:
                await self._live.to_user(notification.recipient_id, live_message(notification))
            except Exception:  # committed already: the client resumes from PostgreSQL
                log.warning(
                    "live notification not published",
                    exc_info=True,
                    extra={"event_id": event.id, "notification_id": notification.id},
                )

    async def _intents(self, event: RecordedEvent) -> list[Intent]:
        payload = event.payload
        if event.kind == "comment.created":
            parent = payload.get("parentId")
            author = None
            if isinstance(parent, int) and not isinstance(parent, bool):
                author = await self._facts.comment_author(parent)
            return rules.intents(event, parent_author_id=author)
        if event.kind == "post.created" and event.aggregate_id is not None:
            mentioned = await self._facts.mentioned_users(event.aggregate_id)
            return rules.intents(event, mentioned=mentioned)
        return rules.intents(event)

    async def _accepted(self, intents: list[Intent]) -> list[Intent]:
        """The intents their recipients accept: one read per recipient (settings and
        standings together), all at once."""
        by_recipient: dict[int, list[Intent]] = defaultdict(list)
        for intent in intents:
            by_recipient[intent.recipient_id].append(intent)
        audiences = await self._audiences_of(by_recipient)
        return [
            intent
            for (recipient, theirs), audience in zip(by_recipient.items(), audiences, strict=True)
            for intent in theirs
            if rules.deliverable(intent, standings=audience.standings, disabled=audience.disabled)
        ]

    async def _audiences_of(self, by_recipient: dict[int, list[Intent]]) -> list[Audience]:
        if len(by_recipient) <= 1:  # most events: no task group for one read
            return [
                await self._audiences.audience(recipient, _people(theirs))
                for recipient, theirs in by_recipient.items()
            ]
        async with asyncio.TaskGroup() as reads:
            tasks = [
                reads.create_task(self._audiences.audience(recipient, _people(theirs)))
                for recipient, theirs in by_recipient.items()
            ]
        return [task.result() for task in tasks]


def _people(intents: list[Intent]) -> list[int]:
    """Whom the recipient's relationship matters with: the actors and the content owners."""
    people = {intent.actor_id for intent in intents}
    people |= {intent.content_owner_id for intent in intents if intent.content_owner_id}
    return sorted(people)
