"""A pool of the application's kind that records the text of every statement it runs."""

from __future__ import annotations

from typing import NamedTuple

import asyncpg


class ObservedPool(NamedTuple):
    pool: asyncpg.Pool
    statements: list[str]  # in the order they ran
