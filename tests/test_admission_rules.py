"""When a socket's operations may rely on admission's revocation check (pure rule)."""

from __future__ import annotations

from fowergram.realtime.admission import REVOCATIONS_FRESH_S, revocations_fresh


def test_operations_right_after_admission_rely_on_its_check() -> None:
    assert revocations_fresh(100.0, 100.0)
    assert revocations_fresh(100.0, 100.0 + REVOCATIONS_FRESH_S - 0.001)


def test_later_operations_and_sockets_not_checked_that_way_ask_again() -> None:
    assert not revocations_fresh(100.0, 100.0 + REVOCATIONS_FRESH_S)
    assert not revocations_fresh(100.0, 1e9)
    assert not revocations_fresh(None, 100.0)
