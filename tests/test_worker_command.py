"""`fowergram worker <name>`: a consumer by name runs alone until SIGTERM and exits 0;
an unknown name is refused with the choices."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from nats.aio.msg import Msg
from support.services import ServiceUrls

from fowergram.adapters.nats.connection import close_nats, connect_nats
from fowergram.adapters.nats.durable_consumer import dlq_stream_name
from fowergram.adapters.nats.event_stream import JetStreamEvents, stream_name
from fowergram.cli import main
from fowergram.domain.events import RecordedEvent


def test_an_unknown_worker_name_is_refused_with_the_choices(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", "nope"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert "invalid choice: 'nope'" in error
    assert "'relay'" in error
    assert "'consumers'" in error


# A worker process with one consumer registered: it echoes each event's id on core NATS.
WORKER = """
import sys

from fowergram.realtime.workers import CONSUMERS


class Echo:
    kinds = frozenset({"post.liked"})

    def __init__(self, resources):
        self._nats = resources.nats
        self._subject = resources.settings.nats_subject_prefix + ".echo"

    async def handle(self, event):
        await self._nats.publish(self._subject, str(event.id).encode())


CONSUMERS["echo"] = Echo
from fowergram.cli import main

sys.exit(main(["worker", "echo"]))
"""


async def test_a_consumer_worker_runs_alone_until_sigterm(
    service_urls: ServiceUrls, migrated_database: str, tmp_path: Path
) -> None:
    prefix = f"w{uuid.uuid4().hex[:10]}"
    env = {
        **os.environ,
        "DATABASE_URL": migrated_database,
        "NATS_URL": service_urls.nats,
        "NATS_SUBJECT_PREFIX": prefix,
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "2",
    }
    nc = await connect_nats(service_urls.nats, name="test-worker")
    echoes: asyncio.Queue[int] = asyncio.Queue()

    async def echoed(msg: Msg) -> None:
        await echoes.put(int(msg.data))

    await nc.subscribe(f"{prefix}.echo", cb=echoed)
    events = JetStreamEvents(nc, subject_prefix=prefix, max_age_s=3600)
    await events.ensure_stream()
    for n in (1, 2):
        await events.publish(RecordedEvent(n, "post.liked", n, {}, datetime.now(UTC)))
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", WORKER], env=env, cwd=tmp_path, stdout=out, stderr=out
        )
    try:
        got = [await asyncio.wait_for(echoes.get(), 30) for _ in range(2)]
        await events.publish(RecordedEvent(3, "post.liked", 3, {}, datetime.now(UTC)))
        await events.publish(RecordedEvent(4, "post.unliked", 4, {}, datetime.now(UTC)))
        await events.publish(RecordedEvent(5, "post.liked", 5, {}, datetime.now(UTC)))
        got += [await asyncio.wait_for(echoes.get(), 10) for _ in range(2)]
        assert got == [1, 2, 3, 5], log.read_text()

        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while process.poll() is None:
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        assert process.returncode == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
        js = nc.jetstream()
        for stream in (stream_name(prefix), dlq_stream_name(prefix)):
            await js.delete_stream(stream)
        await close_nats(nc)
    output = log.read_text()
    assert "Traceback" not in output
    assert '"consumer stopped"' in output
