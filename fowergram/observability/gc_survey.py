"""How much frozen garbage there is, found by a full collection in a forked copy of the
process instead of in the process itself.

Frozen objects are never walked, so the garbage among them can only be found by
unfreezing and collecting everything: ~460 ms of pause at 10,000 sockets, which is what
the freezer's thaws used to cost just to learn whether a thaw was needed. A child made
by `fork()` shares the parent's heap copy-on-write, so its own unfreeze-and-collect
finds exactly the garbage the parent holds, while the parent pauses only for the fork
(7-9 ms at ~290 MB in the WebSocket benchmark) and goes on serving.

The child's price: a core at the lowest priority (nice 19) for about as long as a thaw,
and, while it runs, up to the heap's size in copied pages (its collection writes to
every object's header). It must not touch anything it shares with the parent: before
collecting (finalizers of garbage run in it) it closes every inherited descriptor but
its pipe and puts /dev/null on 0-2, so no socket, file or log is written by it, and it
drops `gc.callbacks` (the parent's pause metrics and probes, which write files by name)
and the metrics folder of multi-worker runs; it leaves with `os._exit` (no atexit
handlers, no buffers flushed) and never runs the event loop. A child that does not
report within the timeout is killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

# Enough for two counts; the child writes once, well under PIPE_BUF (atomic).
_REPORT_BYTES = 64


class SurveyFailed(Exception):
    """The child could not be forked, died, or did not report in time."""


@dataclass(frozen=True, slots=True)
class Survey:
    garbage: int  # objects a full collection found unreachable, frozen ones included
    live: int  # objects the collector tracks after it
    closed: int  # sockets this process had closed when the child was forked
    seconds: float  # from the fork to the report


class ChildSurvey:
    """One survey under way: `poll()` until it returns the figures."""

    def __init__(
        self, pid: int, report_fd: int, closed: int, *, timeout_s: float, clock: Callable[[], float]
    ) -> None:
        self.pid = pid
        self._report_fd = report_fd
        self._closed = closed
        self._started = clock()
        self._deadline = self._started + timeout_s
        self._clock = clock

    @classmethod
    def start(
        cls, closed: int, *, timeout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> ChildSurvey:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except OSError as error:  # no memory or processes left: nothing was started
            os.close(read_fd)
            os.close(write_fd)
            raise SurveyFailed(f"fork failed: {error}") from error
        if pid == 0:
            _survey_in_child(write_fd)
        os.close(write_fd)
        return cls(pid, read_fd, closed, timeout_s=timeout_s, clock=clock)

    def poll(self) -> Survey | None:
        """The figures once the child has reported; None while it works."""
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            if self._clock() < self._deadline:
                return None
            self.cancel()
            raise SurveyFailed("the surveying child did not report in time")
        try:
            report = os.read(self._report_fd, _REPORT_BYTES)
        finally:
            os.close(self._report_fd)
        if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 0 or not report:
            raise SurveyFailed(f"the surveying child failed (wait status {status})")
        garbage, live = (int(part) for part in report.split())
        return Survey(garbage, live, self._closed, self._clock() - self._started)

    def cancel(self) -> None:
        """Stop the child (if still running) and reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        with contextlib.suppress(OSError):
            os.close(self._report_fd)


def _survey_in_child(report_fd: int) -> NoReturn:
    status = 1
    try:
        # Above 0-2, which /dev/null replaces below.
        report_fd = fcntl.fcntl(report_fd, fcntl.F_DUPFD, 3)
        os.nice(19)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, os.sysconf("SC_OPEN_MAX"))
        # Callbacks time collections for the parent's metrics and probes (some write files
        # by name): this collection is not the parent's.
        gc.callbacks.clear()
        # A finalizer that counts something would, with several workers, write the count
        # to a file of this pid in the metrics folder, summed into the parent's figures:
        # no folder, no file (the write fails inside the finalizer, which is ignored).
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = os.devnull
        gc.unfreeze()
        garbage = gc.collect()
        live = len(gc.get_objects())
        os.write(report_fd, f"{garbage} {live}".encode())
        status = 0
    finally:
        os._exit(status)
