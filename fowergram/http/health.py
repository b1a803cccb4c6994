"""Liveness (no I/O) and readiness (each dependency pinged, with its latency)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from fowergram.http.responses import JSONResponse

Check = Callable[[], Awaitable[None]]
CHECK_TIMEOUT_S = 2.0


async def _run_check(check: Check) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except TimeoutError:
        outcome: dict[str, Any] = {"status": "down", "error": f"no answer in {CHECK_TIMEOUT_S}s"}
    except Exception as exc:
        outcome = {"status": "down", "error": f"{type(exc).__name__}: {exc}"[:300]}
    else:
        outcome = {"status": "up"}
    outcome["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
    return outcome


async def check_all(checks: Mapping[str, Check]) -> tuple[bool, dict[str, Any]]:
    names = list(checks)
    outcomes = await asyncio.gather(*(_run_check(checks[name]) for name in names))
    results = dict(zip(names, outcomes, strict=True))
    return all(r["status"] == "up" for r in outcomes), results


async def liveness(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readiness(request: Request) -> Response:
    ready, results = await check_all(request.state.container.readiness_checks)
    body = {"status": "ok" if ready else "unavailable", "checks": results}
    return JSONResponse(body, status_code=200 if ready else 503)
