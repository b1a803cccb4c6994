"""The ticks stream's rules, without I/O."""

from __future__ import annotations

import pytest

from fowergram.domain.errors import DomainError, ErrorCode
from fowergram.domain.ticks import MAX_INTERVAL_MS, MIN_INTERVAL_MS, plan_ticks


def test_interval_is_converted_to_seconds() -> None:
    plan = plan_ticks(250, 3)
    assert plan.interval_s == 0.25
    assert plan.count == 3


def test_no_count_means_unbounded() -> None:
    assert plan_ticks(1000, None).count is None


@pytest.mark.parametrize(
    ("every", "count", "field"),
    [
        (MIN_INTERVAL_MS - 1, None, "every"),
        (MAX_INTERVAL_MS + 1, None, "every"),
        (-5, None, "every"),
        (100, 0, "count"),
        (100, -1, "count"),
    ],
)
def test_out_of_range_is_bad_user_input(every: int, count: int | None, field: str) -> None:
    with pytest.raises(DomainError) as raised:
        plan_ticks(every, count)
    assert raised.value.code is ErrorCode.BAD_USER_INPUT
    assert raised.value.field == field
