"""Times the garbage collector of a benchmark's server from the outside of its code.

bench_ws puts this folder on the server's PYTHONPATH, so Python imports this module at
start-up (`site` imports any `sitecustomize`), with BENCH_GC_LOG naming a JSON file. Every
collection is timed through `gc.callbacks`; the file gets, per generation, the count,
total and longest pause, and every full (generation 2) collection and every pause of
20 ms or more with its wall-clock time, so a phase of the run can pick out its own. The
file is rewritten after each such collection (and at exit): current while the run goes.

SIGUSR2 adds a count of the objects the collector tracks (`gc.get_objects()`, which
leaves out frozen ones) and of the frozen ones, so the generator can tell how many each
socket adds; with BENCH_GC_TYPES=1 (analysis) it collects first, so only live objects
are counted, and also counts how many of each type (the top ones).
SIGUSR1 audits the garbage at the end of a churn run: a full collection with
DEBUG_SAVEALL of what is not frozen, then of everything after an unfreeze, each with
what it found (how many, of which types); then the garbage is freed. Cyclic garbage
among frozen objects is never collected otherwise: the second count is what freezing
had leaked. The server's code is untouched; when BENCH_GC_LOG is unset this does
nothing.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import signal
import time
from collections import Counter
from typing import Any

_PATH = os.environ.get("BENCH_GC_LOG")
_TYPES = os.environ.get("BENCH_GC_TYPES") == "1"
_NOTABLE_S = 0.02
_TOP_TYPES = 60


def _type_name(obj: object) -> str:
    kind = type(obj)
    module = kind.__module__
    return kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"


def _histogram(objects: list[Any]) -> dict[str, int]:
    counts = Counter(_type_name(obj) for obj in objects)
    return dict(counts.most_common(_TOP_TYPES * 4))


def _edges(objects: list[Any]) -> dict[str, int]:
    """ "A -> B": how many references from a garbage object of type A to one of type B."""
    inside = {id(obj) for obj in objects}
    counts: Counter[str] = Counter()
    for obj in objects:
        source = _type_name(obj)
        for target in gc.get_referents(obj):
            if id(target) in inside:
                counts[f"{source} -> {_type_name(target)}"] += 1
    return dict(counts.most_common(400))


def _install(path: str) -> None:
    totals = {generation: [0, 0.0, 0.0] for generation in range(3)}  # count, sum, max
    notable: list[list[float]] = []  # [wall time at the end, generation, seconds, collected]
    started = [0.0]
    counts: list[list[Any]] = []  # [wall time, tracked (not frozen), frozen, {type: count}]
    audits: list[dict[str, Any]] = []

    frozen = [0]  # counted on demand only: it walks every frozen object

    def dump() -> None:
        state: dict[str, Any] = {
            "generations": {
                str(g): dict(zip(("count", "total_s", "max_s"), t, strict=True))
                for g, t in totals.items()
            },
            "notable": notable,
            "object_counts": counts,
            "audits": audits,
            "thresholds": gc.get_threshold(),
            "frozen": frozen[0],
        }
        temporary = f"{path}.tmp"
        with open(temporary, "w") as out:
            json.dump(state, out)
        os.replace(temporary, path)

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        seconds = time.perf_counter() - started[0]
        generation = info["generation"]
        total = totals[generation]
        total[0] += 1
        total[1] += seconds
        total[2] = max(total[2], seconds)
        if generation == 2 or seconds >= _NOTABLE_S:
            notable.append([time.time(), generation, seconds, info["collected"]])
            dump()

    def count_objects(_signum: int, _frame: object) -> None:
        if _TYPES:
            gc.collect()  # analysis: count what is alive, not garbage awaiting collection
        objects = gc.get_objects()
        types = _histogram(objects) if _TYPES else {}
        frozen[0] = gc.get_freeze_count()
        counts.append([time.time(), len(objects), frozen[0], types])
        del objects
        dump()

    def garbage() -> tuple[int, float, dict[str, int], dict[str, int]]:
        """One full collection keeping what it finds: how many, how long, which types,
        and (BENCH_GC_TYPES=1) which type refers to which among them (the cycles' shape);
        then the garbage is freed."""
        gc.set_debug(gc.DEBUG_SAVEALL)
        begun = time.perf_counter()
        try:
            found = gc.collect()
        finally:
            gc.set_debug(0)
        seconds = time.perf_counter() - begun
        types = _histogram(gc.garbage)
        edges = _edges(gc.garbage) if _TYPES else {}
        gc.garbage.clear()
        gc.collect()  # now without DEBUG_SAVEALL: the garbage is freed
        return found, seconds, types, edges

    def audit_frozen(_signum: int, _frame: object) -> None:
        # First what is not frozen (not freezing's doing), then the frozen ones.
        unfrozen_garbage, _, unfrozen_types, unfrozen_edges = garbage()
        frozen_count = gc.get_freeze_count()
        tracked = len(gc.get_objects())
        gc.unfreeze()
        found, seconds, types, _ = garbage()
        audits.append(
            {
                "time": time.time(),
                "frozen": frozen_count,
                "tracked": tracked,
                "unfrozen_garbage": unfrozen_garbage,
                "unfrozen_types": unfrozen_types,
                "unfrozen_edges": unfrozen_edges,
                "garbage": found,
                "seconds": seconds,
                "types": types,
                "after": len(gc.get_objects()),
            }
        )
        dump()

    def last_dump() -> None:
        frozen[0] = gc.get_freeze_count()
        dump()

    gc.callbacks.append(callback)
    atexit.register(last_dump)
    signal.signal(signal.SIGUSR2, count_objects)
    signal.signal(signal.SIGUSR1, audit_frozen)


if _PATH:
    _install(_PATH)
