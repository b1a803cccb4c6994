"""When a statement made for many callers fails: whose failure it is.

Reads and writes of one turn of the event loop go to PostgreSQL together
(`adapters/coalesced.py`). A failure one caller's input can cause (bad data, a
constraint, a deadlock) must not fail the others: they are tried again one by one. A
failure of the database itself (the connection lost, the server shutting down) is every
caller's, and trying each alone would only make each wait for it again.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from fowergram.adapters.coalesced import Coalesced

K = TypeVar("K")
V = TypeVar("V")

_EVERY_CALLER_S = (asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)


def may_be_one_caller_s(error: Exception) -> bool:
    """True for a failure one caller's input can cause: worth trying them one by one."""
    return isinstance(error, asyncpg.PostgresError) and not isinstance(error, _EVERY_CALLER_S)


async def together_else_each_alone(
    keys: list[K], run: Callable[[list[K]], Awaitable[Sequence[V | Exception]]]
) -> Sequence[V | Exception]:
    """`run` for all the keys at once; when that fails for one caller's sake, for each key
    on its own (its outcome, or its failure). A failure that is every caller's is raised."""
    try:
        return await run(keys)
    except Exception as exc:
        if len(keys) == 1 or not may_be_one_caller_s(exc):
            raise
    outcomes: list[V | Exception] = []
    for key in keys:
        try:
            outcomes.extend(await run([key]))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


def one_statement_per_turn(
    run: Callable[[list[K]], Awaitable[Sequence[V | Exception]]],
) -> Coalesced[K, V]:
    """Calls of one turn of the event loop answered by one `run` for all their keys, a
    failure one caller's input caused failing that caller alone."""
    return Coalesced(functools.partial(together_else_each_alone, run=run))
