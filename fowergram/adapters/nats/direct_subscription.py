"""A core NATS subscription whose messages are handed to a function at once.

nats-py gives every subscription an `asyncio.Queue` and, with a callback, a task that
reads it: ~3 KB and two task wake-ups per message. The hub holds one subscription per
connected user (thousands), so here the client's reader hands each message straight to
a plain function instead. nats-py still owns the subscription (its sid, the SUB it sends
again after a reconnection, UNSUB); only the per-subscription queue and task are
skipped. This relies on nats-py's internals (`Client._subs`, `_sid`, `_send_subscribe`,
`_validate_subject`, and what `_process_msg`, `drain` and `unsubscribe` call on
`sub._pending_queue`), checked by
tests/test_channels.py against a real server; the dependency is pinned below 3.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.client import _validate_subject
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

log = logging.getLogger(__name__)


class _Handoff:
    """Stands where nats-py keeps a subscription's queue: the parts of asyncio.Queue it
    uses, with each message handed over as it comes (so nothing is ever pending)."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Callable[[Msg], None]) -> None:
        self._handler = handler

    def put_nowait(self, msg: Msg) -> None:
        try:
            self._handler(msg)
        except Exception:  # on nats-py's reader: a failure here must not stop it
            log.exception("nats message handler failed", extra={"subject": msg.subject})

    def qsize(self) -> int:
        return 0

    def empty(self) -> bool:
        return True

    async def join(self) -> None:
        """Draining waits for what is pending: nothing."""


class DirectSubscription(Subscription):
    def __init__(self, conn: NATS, sid: int, subject: str, handler: Callable[[Msg], None]) -> None:
        # Not Subscription.__init__: it builds the queue this class exists to avoid.
        self._conn = conn
        self._id = sid
        self._subject = subject
        self._queue = ""
        self._max_msgs = 0
        self._received = 0
        self._cb = None
        self._future = None
        self._closed = False
        self._pending_msgs_limit = 0
        self._pending_bytes_limit = 0  # nats-py's slow-consumer check off: nothing queues
        self._pending_queue = _Handoff(handler)  # type: ignore[assignment]
        self._pending_next_msgs_calls = {}
        self._pending_size = 0
        self._wait_for_msgs_task = None
        self._message_iterator = None
        self._jsi = None


async def subscribe_direct(nc: NATS, subject: str, handler: Callable[[Msg], None]) -> Subscription:
    """Subscribe `handler` to `subject` (called on the client's reader, must not block)."""
    _validate_subject(subject, strict=True)  # as nc.subscribe does: BadSubjectError
    if nc.is_closed:
        raise nats.errors.ConnectionClosedError
    if nc.is_draining:
        raise nats.errors.ConnectionDrainingError
    nc._sid += 1
    sub = DirectSubscription(nc, nc._sid, subject, handler)
    nc._subs[sub._id] = sub
    await nc._send_subscribe(sub)
    return sub
