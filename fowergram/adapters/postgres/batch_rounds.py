"""Calls batched into one statement, in rounds that never touch one thing twice.

A statement made for many callers (`adapters/coalesced.py`) must not hold two calls on
the same row: a like and an unlike of one pair, or two events of one notification
group, would each see the row as it was before the statement and the second would be
lost or doubled. Such calls go in later rounds, in the order they came.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from fowergram.adapters.coalesced import Coalesced
from fowergram.adapters.postgres.batch_faults import together_else_each_alone

T = TypeVar("T")
V = TypeVar("V")


def rounds(calls: Sequence[T], touches: Callable[[T], Iterable[Hashable]]) -> list[list[T]]:
    """The calls in rounds whose `touches` are all distinct, each call in the earliest
    round after every earlier call it shares one with."""
    placed: list[list[T]] = []
    last_round_of: dict[Hashable, int] = {}  # a touched thing: the last round with it
    for call in calls:
        keys = set(touches(call))
        index = 1 + max((last_round_of[key] for key in keys if key in last_round_of), default=-1)
        if index == len(placed):
            placed.append([])
        placed[index].append(call)
        for key in keys:
            last_round_of[key] = index
    return placed


async def run_in_rounds(
    calls: list[T],
    touches: Callable[[T], Iterable[Hashable]],
    run: Callable[[list[T]], Awaitable[Sequence[V | Exception]]],
) -> list[V | Exception]:
    """Each call's outcome (or failure), `run` once per round. A round that fails for one
    call's sake is run again call by call (batch_faults), so that call fails alone; one
    that fails for every call's (the database away) fails that round's calls."""
    outcomes: dict[int, V | Exception] = {}
    for calls_of_round in rounds(calls, touches):
        try:
            results = await together_else_each_alone(calls_of_round, run)
        except Exception as exc:
            results = [exc] * len(calls_of_round)
        outcomes |= {id(call): result for call, result in zip(calls_of_round, results, strict=True)}
    return [outcomes[id(call)] for call in calls]


def rounds_per_turn(
    touches: Callable[[T], Iterable[Hashable]],
    run: Callable[[list[T]], Awaitable[Sequence[V | Exception]]],
) -> Coalesced[T, V]:
    """Calls of one turn of the event loop written together, `run_in_rounds`."""
    return Coalesced(functools.partial(run_in_rounds, touches=touches, run=run))
