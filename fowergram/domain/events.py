"""Domain events, written to the outbox in the same transaction as the change."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_KIND = re.compile(r"^[a-z_]+\.[a-z_]+$")


@dataclass(frozen=True, slots=True)
class DomainEvent:
    kind: str  # "<aggregate>.<event>", e.g. "post.liked"
    aggregate_id: int | None
    payload: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _KIND.fullmatch(self.kind):
            raise ValueError(f"event kinds are '<aggregate>.<event>': {self.kind!r}")


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """A domain event as the outbox stored it: `id` orders events and de-duplicates them."""

    id: int
    kind: str
    aggregate_id: int | None
    payload: dict[str, Any]
    created_at: datetime
