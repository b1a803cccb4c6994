"""Calls of one turn of the event loop answered by one batched call (adapters/coalesced)."""

from __future__ import annotations

import asyncio

import pytest

from fowergram.adapters.coalesced import Coalesced


class Recorder:
    def __init__(self, *, fail_on: int | None = None, gate: asyncio.Event | None = None) -> None:
        self.batches: list[list[int]] = []
        self._fail_on = fail_on
        self._gate = gate

    async def fetch(self, keys: list[int]) -> list[int]:
        self.batches.append(list(keys))
        if self._gate is not None:
            await self._gate.wait()
        if self._fail_on is not None and self._fail_on in keys:
            raise ConnectionError("redis went away")
        return [key * 10 for key in keys]


async def test_calls_of_one_turn_share_one_fetch_and_get_their_own_values() -> None:
    recorder = Recorder()
    coalesced = Coalesced(recorder.fetch)

    values = await asyncio.gather(*(coalesced(n) for n in [3, 1, 3, 2]))

    assert values == [30, 10, 30, 20]
    assert recorder.batches == [[3, 1, 3, 2]]  # in order, repeats kept


async def test_calls_of_later_turns_make_later_batches() -> None:
    recorder = Recorder()
    coalesced = Coalesced(recorder.fetch)

    assert await coalesced(1) == 10
    assert list(await asyncio.gather(coalesced(2), coalesced(3))) == [20, 30]

    assert recorder.batches == [[1], [2, 3]]


async def test_a_batch_never_exceeds_its_size() -> None:
    recorder = Recorder()
    coalesced = Coalesced(recorder.fetch, max_batch=4)

    values = await asyncio.gather(*(coalesced(n) for n in range(10)))

    assert values == [n * 10 for n in range(10)]
    assert [len(batch) for batch in recorder.batches] == [4, 4, 2]


async def test_a_failed_fetch_fails_every_caller_of_its_batch_only() -> None:
    recorder = Recorder(fail_on=2)
    coalesced = Coalesced(recorder.fetch)

    outcomes = await asyncio.gather(coalesced(1), coalesced(2), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)
    assert await coalesced(5) == 50  # the next batch is unaffected


async def test_a_cancelled_caller_leaves_the_others_answered() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    coalesced = Coalesced(recorder.fetch)
    first = asyncio.ensure_future(coalesced(1))
    second = asyncio.ensure_future(coalesced(2))
    await asyncio.sleep(0.01)  # the batch is being fetched

    first.cancel()
    gate.set()

    assert await second == 20
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_batch_whose_callers_all_left_is_not_fetched() -> None:
    recorder = Recorder()
    coalesced = Coalesced(recorder.fetch)
    waiting = [asyncio.ensure_future(coalesced(n)) for n in range(3)]
    await asyncio.sleep(0)  # each caller has asked; the batch is not sent yet
    for task in waiting:
        task.cancel()
    await asyncio.gather(*waiting, return_exceptions=True)
    await asyncio.sleep(0.01)

    assert recorder.batches == []


async def test_a_fetch_returning_the_wrong_number_of_values_is_an_error() -> None:
    async def short(keys: list[int]) -> list[int]:
        return keys[:-1]

    coalesced = Coalesced(short)
    with pytest.raises(RuntimeError, match="1 values for 2 keys"):
        await asyncio.gather(coalesced(1), coalesced(2))


def test_a_batch_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Coalesced(Recorder().fetch, max_batch=0)


async def test_an_exception_among_the_values_is_raised_to_its_own_caller_only() -> None:
    async def fetch(keys: list[int]) -> list[int | Exception]:
        return [ValueError(f"bad {key}") if key % 2 else key for key in keys]

    coalesced = Coalesced(fetch)
    outcomes = await asyncio.gather(*(coalesced(n) for n in range(4)), return_exceptions=True)

    assert outcomes[0::2] == [0, 2]
    assert [str(outcome) for outcome in outcomes[1::2]] == ["bad 1", "bad 3"]


def test_a_batch_left_by_a_stopped_loop_does_not_hold_up_the_next_loop() -> None:
    recorder = Recorder()
    coalesced = Coalesced(recorder.fetch)
    first = asyncio.new_event_loop()
    try:
        abandoned = first.create_task(coalesced(1))
        first.call_soon(first.stop)  # stops before the batch is sent
        first.run_forever()
        assert not abandoned.done()
    finally:
        first.close()

    assert asyncio.run(asyncio.wait_for(coalesced(2), timeout=2)) == 20
    assert recorder.batches == [[2]]


async def test_calls_made_while_a_batch_is_out_go_together_after_it() -> None:
    """One batch in flight at a time: under load the batches grow instead of the
    round trips multiplying."""
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    coalesced = Coalesced(recorder.fetch)
    first = asyncio.ensure_future(coalesced(1))
    await asyncio.sleep(0.01)  # [1] is out, held by the gate
    later = [asyncio.ensure_future(coalesced(n)) for n in (2, 3)]
    await asyncio.sleep(0.01)
    later.append(asyncio.ensure_future(coalesced(4)))  # another turn, still waiting
    await asyncio.sleep(0.01)
    assert recorder.batches == [[1]]

    gate.set()

    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30, 40]
    assert recorder.batches == [[1], [2, 3, 4]]
    assert await coalesced(5) == 50  # nothing out: at the end of this turn again
    assert recorder.batches == [[1], [2, 3, 4], [5]]


async def test_a_full_batch_goes_while_another_is_out() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    coalesced = Coalesced(recorder.fetch, max_batch=2)
    first = asyncio.ensure_future(coalesced(1))
    await asyncio.sleep(0.01)
    full = [asyncio.ensure_future(coalesced(n)) for n in (2, 3)]
    await asyncio.sleep(0.01)
    assert recorder.batches == [[1], [2, 3]]  # both out at once

    gate.set()

    assert [await first, *await asyncio.gather(*full)] == [10, 20, 30]


async def test_a_failed_batch_sends_what_waited_for_it() -> None:
    gate = asyncio.Event()
    recorder = Recorder(fail_on=1, gate=gate)
    coalesced = Coalesced(recorder.fetch)
    first = asyncio.ensure_future(coalesced(1))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(coalesced(2))
    await asyncio.sleep(0.01)

    gate.set()

    with pytest.raises(ConnectionError):
        await first
    assert await second == 20
    assert recorder.batches == [[1], [2]]
