"""A child server process: started so it dies with us, waited for, stopped cleanly."""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import psutil

_PR_SET_PDEATHSIG = 1


class EmbeddedServiceError(RuntimeError):
    """An embedded service failed to start; `service` names it."""

    def __init__(self, service: str, reason: str) -> None:
        super().__init__(f"embedded {service} failed to start: {reason}")
        self.service = service


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


def _die_with_parent(sig: int) -> Callable[[], None]:
    # If `fowergram dev` is killed outright, the kernel signals the child: no orphans.
    def prepare() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)
        os.setpgrp()  # Ctrl-C on the terminal reaches us only; we stop children in order

    return prepare


def run_as(user: str | None) -> dict[str, Any]:
    """Popen arguments that drop to `user` entirely: uid, its gid, no inherited groups
    (keeping root's gid would apply the group bits of root-owned folders)."""
    if user is None:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


class ManagedProcess:
    def __init__(
        self,
        service: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        stop_signal: int = signal.SIGTERM,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.service = service
        self.argv = list(argv)
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.user = user
        self.env = env
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self._process = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent(self.stop_signal),
                    **run_as(self.user),
                    env=self.env,
                )
            except OSError as exc:
                raise EmbeddedServiceError(self.service, str(exc)) from exc

    def wait_until(self, ready: Callable[[], bool], timeout: float) -> None:
        """Poll `ready` until it holds; fail with the log's tail if the process dies or stalls."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise EmbeddedServiceError(
                    self.service,
                    f"exited with status {self._process.returncode}; {self.log_tail()}",
                )
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        raise EmbeddedServiceError(
            self.service, f"not ready after {timeout:.0f}s; {self.log_tail()}"
        )

    def listens_on(self, port: int) -> bool:
        """True once this very process listens on `port` (not some other server there)."""
        if self._process is None or not port_accepts(port):
            return False
        try:
            sockets = psutil.Process(self._process.pid).net_connections(kind="inet")
        except psutil.Error:
            return False
        return any(
            sock.status == psutil.CONN_LISTEN and sock.laddr and sock.laddr.port == port
            for sock in sockets
        )

    def log_tail(self, lines: int = 2) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return "log: " + " | ".join(text[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(self.stop_signal)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
