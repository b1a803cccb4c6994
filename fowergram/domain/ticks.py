"""The `ticks` heartbeat stream's rules: bounded interval and length."""

from __future__ import annotations

from dataclasses import dataclass

from fowergram.domain.errors import BadUserInput

MIN_INTERVAL_MS = 10
MAX_INTERVAL_MS = 60_000
MAX_COUNT = 100_000


@dataclass(frozen=True, slots=True)
class TickPlan:
    interval_s: float
    count: int | None  # None: until the client stops


def plan_ticks(every_ms: int, count: int | None) -> TickPlan:
    if not MIN_INTERVAL_MS <= every_ms <= MAX_INTERVAL_MS:
        raise BadUserInput(
            f"every must be between {MIN_INTERVAL_MS} and {MAX_INTERVAL_MS} ms", field="every"
        )
    if count is not None and not 1 <= count <= MAX_COUNT:
        raise BadUserInput(f"count must be between 1 and {MAX_COUNT}", field="count")
    return TickPlan(every_ms / 1000, count)
