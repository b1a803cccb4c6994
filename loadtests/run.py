"""Run a locust scenario headless against a fresh `fowergram dev` and print its figures.

    python -m loadtests.run [--users 50] [--duration 20s] [--host URL] [--locustfile PATH]

Without --host it starts `fowergram dev` (embedded stack, one worker) on a free port in a
temporary data folder and stops it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from fowergram.embedded.process import free_port

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def dev_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="fowergram-load-") as data_dir:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
        env |= {"DATA_DIR": data_dir, "LOG_LEVEL": "WARNING"}
        process = subprocess.Popen(
            [sys.executable, "-m", "fowergram.cli", "dev", "--port", str(port)], env=env
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{url}/health/ready").status_code == 200:
                        break
                time.sleep(0.2)
            else:
                raise SystemExit("server did not become ready")
            yield url
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(30)


def run_locust(host: str, locustfile: Path, users: int, duration: str, out: Path) -> None:
    subprocess.run(
        [
            sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
            "--users", str(users), "--spawn-rate", str(users), "--run-time", duration,
            "--host", host, "--csv", str(out), "--only-summary", "--loglevel", "WARNING",
        ],
        check=False,
    )  # fmt: skip


def print_figures(stats_csv: Path, users: int, duration: str) -> None:
    print(f"\n{users} concurrent users for {duration}, one server worker")
    print(f"{'request':<28}{'count':>9}{'fail':>7}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}")
    with stats_csv.open() as handle:
        for row in csv.DictReader(handle):
            print(
                f"{row['Name']:<28}{row['Request Count']:>9}{row['Failure Count']:>7}"
                f"{float(row['Requests/s']):>10.0f}{row['50%']:>9}{row['99%']:>9}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", default="20s")
    parser.add_argument("--host", help="an already running server; default: start one")
    parser.add_argument("--locustfile", type=Path, default=HERE / "locustfile.py")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        out = Path(out_dir) / "run"
        with contextlib.ExitStack() as stack:
            host = args.host or stack.enter_context(dev_server())
            run_locust(host, args.locustfile, args.users, args.duration, out)
        print_figures(Path(f"{out}_stats.csv"), args.users, args.duration)


if __name__ == "__main__":
    main()
