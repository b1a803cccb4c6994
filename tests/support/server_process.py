"""A real `fowergram serve` process, for tests that need several instances or to kill one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fowergram.embedded.process import free_port


class ServerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self._env = {**os.environ, **env}
        self._log = log
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def start(self, timeout: float = 60) -> ServerProcess:
        with self._log.open("ab") as out:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "fowergram.cli", "serve", "--port", str(self.port)],
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{self._log.read_text()}")
            try:
                if httpx.get(f"{self.http_url}/health/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)

    def kill(self) -> None:
        """`kill -9`: no drain, no clean-up; what it held must be recovered by the others."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGKILL)
            self._process.wait(timeout=10)

    def stop(self) -> int | None:
        if self._process is None:
            return None
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                return self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return self._process.wait(timeout=10)

    def log(self) -> str:
        return self._log.read_text()
