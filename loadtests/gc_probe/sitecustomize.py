"""Times the garbage collector of a benchmark's server from the outside of its code.

bench_ws puts this folder on the server's PYTHONPATH, so Python imports this module at
start-up (`site` imports any `sitecustomize`), with BENCH_GC_LOG naming a JSON file. Every
collection is timed through `gc.callbacks`; the file gets, per generation, the count,
total and longest pause, and every full (generation 2) collection and every pause of
20 ms or more with its wall-clock time, so a phase of the run can pick out its own. The
file is rewritten after each such collection (and at exit): current while the run goes.
SIGUSR2 adds a count of the objects the collector tracks (`gc.get_objects()`), so the
generator can tell how many each socket adds. The server's code is untouched; when
BENCH_GC_LOG is unset this does nothing.
"""

from __future__ import annotations

import atexit
import gc
import json
import os
import signal
import time
from typing import Any

_PATH = os.environ.get("BENCH_GC_LOG")
_NOTABLE_S = 0.02


def _install(path: str) -> None:
    totals = {generation: [0, 0.0, 0.0] for generation in range(3)}  # count, sum, max
    notable: list[list[float]] = []  # [wall time at the end, generation, seconds, collected]
    started = [0.0]
    counts: list[list[float]] = []  # [wall time, objects tracked by the collector]

    def dump() -> None:
        state: dict[str, Any] = {
            "generations": {
                str(g): dict(zip(("count", "total_s", "max_s"), t, strict=True))
                for g, t in totals.items()
            },
            "notable": notable,
            "object_counts": counts,
            "thresholds": gc.get_threshold(),
            "frozen": gc.get_freeze_count(),
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
        counts.append([time.time(), len(gc.get_objects())])
        dump()

    gc.callbacks.append(callback)
    atexit.register(dump)
    signal.signal(signal.SIGUSR2, count_objects)


if _PATH:
    _install(_PATH)
