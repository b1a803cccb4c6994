"""Ids for requests and connections in logs: 80 random bits as 20 hex digits.

Drawn from `random` (the module's generator, reseeded in a forked child), not `uuid4`:
that reads os.urandom each time, a system call that was ~2% of a socket's set-up and
~1% of a small HTTP request. Not a counter either: request ids are echoed to clients
(X-Request-ID), and a counter would tell them how much a worker serves. An id names a
line of a log; it guards nothing, so it needs no cryptographic source.
"""

from __future__ import annotations

import random


def next_trace_id() -> str:
    return f"{random.getrandbits(80):020x}"
