"""A batched statement's rows handed back to the asks they answer.

Statements made for many callers (`unnest(...) WITH ORDINALITY`, see batch_faults)
name each row by its ask's ordinal, `ord`, counted from 1 in the asks' order.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


def row_per_ask(rows: Sequence[asyncpg.Record], count: int) -> list[asyncpg.Record | None]:
    """Each of `count` asks' one row, or None where the statement found nothing."""
    found = {row["ord"]: row for row in rows}
    return [found.get(ordinal) for ordinal in range(1, count + 1)]


def rows_per_ask(rows: Sequence[asyncpg.Record], count: int) -> list[list[asyncpg.Record]]:
    """Each of `count` asks' rows, in the statement's order."""
    grouped: list[list[asyncpg.Record]] = [[] for _ in range(count)]
    for row in rows:
        grouped[row["ord"] - 1].append(row)
    return grouped
