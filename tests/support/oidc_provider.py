"""A real OpenID provider (node oidc-provider, see oidc/provider.mjs) for the social-login tests.

    with OidcTestProvider(client_secret=..., redirect_uri=..., accounts={...}) as provider:
        provider.issuer  # http://127.0.0.1:<free port>

`npm ci` runs (once) only when oidc/node_modules is missing or does not match the lock file.
The provider listens on a port the OS picks and announces its issuer on stdout; the helper
waits for that line and for the discovery document, and stops the process on exit. The
process also exits when its standard input (a pipe from us) closes, so even a test run that is
killed leaves no provider behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, Self

import httpx

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
_LISTENING = re.compile(r"oidc-provider listening on (http://\S+)")


def node_modules_ready(directory: Path = OIDC_DIR) -> bool:
    """True when node_modules holds the oidc-provider version that package-lock.json pins."""
    try:
        lock = json.loads((directory / "package-lock.json").read_text())
        installed = json.loads(
            (directory / "node_modules" / "oidc-provider" / "package.json").read_text()
        )
    except (OSError, ValueError):
        return False
    wanted = lock.get("packages", {}).get("node_modules/oidc-provider", {}).get("version")
    return bool(wanted) and installed.get("version") == wanted


def ensure_node_modules(directory: Path = OIDC_DIR) -> None:
    if node_modules_ready(directory):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is needed for the OpenID provider of the tests (Node.js 18+)")
    result = subprocess.run(
        [npm, "ci", "--prefix", str(directory), "--no-audit", "--no-fund", "--loglevel=error"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"npm ci failed ({result.returncode}):\n{result.stderr[-4000:]}")


class OidcTestProvider:
    """One provider process: one confidential client, PKCE required, the given accounts.

    `accounts` maps an account id (the `sub`, and what the login form takes) to its claims,
    e.g. {"alice": {"email": "alice@example.com", "email_verified": True, "name": "Alice"}}.
    Port 0 (the default) lets the OS pick one; each start signs with a new key.
    With `id_token_claims` the ID token carries those claims too; otherwise (the default, as
    with many providers) they come from the userinfo endpoint only.
    """

    def __init__(
        self,
        *,
        client_secret: str,
        redirect_uri: str,
        accounts: Mapping[str, Mapping[str, Any]],
        client_id: str = "fowergram-test",
        id_token_claims: bool = False,
        port: int = 0,
        startup_timeout_s: float = 30.0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._env = os.environ | {
            "OIDC_PORT": str(port),
            "OIDC_CLIENT_ID": client_id,
            "OIDC_CLIENT_SECRET": client_secret,
            "OIDC_REDIRECT_URIS": redirect_uri,
            "OIDC_ACCOUNTS": json.dumps(accounts),
            "OIDC_ID_TOKEN_CLAIMS": "true" if id_token_claims else "false",
            "OIDC_EXIT_WITH_STDIN": "true",  # our end of the pipe closes when we die
        }
        self._startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._issuer: str | None = None

    @property
    def issuer(self) -> str:
        if self._issuer is None:
            raise RuntimeError("the provider is not running")
        return self._issuer

    def start(self) -> Self:
        ensure_node_modules()
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is needed for the OpenID provider of the tests")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115  (closed in stop())
        self._process = subprocess.Popen(
            [node, str(OIDC_DIR / "provider.mjs")],
            cwd=OIDC_DIR,
            env=self._env,
            stdin=subprocess.PIPE,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._issuer = self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> str:
        assert self._process is not None
        deadline = time.monotonic() + self._startup_timeout_s
        issuer: str | None = None
        with httpx.Client(timeout=2) as http:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise RuntimeError(f"the OpenID provider exited:\n{self.output()}")
                if issuer is None and (found := _LISTENING.search(self.output())):
                    issuer = found.group(1)
                if issuer is not None:
                    try:
                        response = http.get(f"{issuer}/.well-known/openid-configuration")
                        if response.status_code == 200:
                            return issuer
                    except httpx.TransportError:
                        pass
                time.sleep(0.02)
        raise RuntimeError(f"the OpenID provider did not start in time:\n{self.output()}")

    def output(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        if self._log is None:
            return ""
        fd = self._log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    def stop(self) -> None:
        process, self._process, self._issuer = self._process, None, None
        if process is not None:
            if process.stdin is not None:
                process.stdin.close()
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
