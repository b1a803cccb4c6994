"""HTTP benchmark of the social API: realistic data, one server worker, wrk as the load.

    python -m loadtests.bench_http [--users 10000] [--posts 100000] [--concurrency 50]
                                   [--duration 20] [--warmup 5] [--profile-seconds 10]

1. Starts a fresh `fowergram dev` (one worker; embedded PostgreSQL, Redis and NATS in a
   temporary folder, or a fresh database on DATABASE_URL when set), then seeds it with
   COPY (loadtests/seed.py) and signs the benchmark viewers in through the API.
2. Pins the server to one core and wrk (plus the embedded services) to the other, and
   for each scenario warms up, then measures requests/s and p50/p99 latency at
   --concurrency connections: the profile page, a post with 20 comments, likePost /
   unlikePost alternating over many posts, createPost, and a floor (`me { id }`: what
   every request pays whatever it asks).
3. Prints the figures beside the issue's targets, then samples the server with py-spy
   under the profile-page load and prints where its time goes.

Needs wrk (`apt-get install -y wrk`); py-spy is optional (`pip install py-spy`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from loadtests.load import (
    SCENARIOS,
    RunResult,
    Scenario,
    run_wrk,
    scenario_lines,
    write_lines,
    write_tokens,
    wrk_path,
)
from loadtests.machine_speed import core_speeds, speed_line
from loadtests.pipeline import PipelineCounts, describe, pipeline_counts
from loadtests.sampling import Profile, Sampler, print_profile, py_spy_path
from loadtests.seed import PASSWORD, SeedResult, SeedSizes, seed
from loadtests.server import SERVER_CPU, BenchServer, bench_server, pin
from loadtests.statements import reset_statements, top_statements

SIGN_IN = """mutation SignIn($identifier: String!, $password: String!) {
  signIn(identifier: $identifier, password: $password) { accessToken }
}"""


async def sign_in_all(url: str, usernames: list[str]) -> list[str]:
    """Bearer tokens through the real signIn mutation. Each viewer signs in from an address
    of its own (X-Forwarded-For, trusted from 127.0.0.1), as separate devices would: the
    per-address sign-in limit is 30 a minute."""
    gate = asyncio.Semaphore(4)  # argon2 verification is CPU-bound: no point in more

    async def one(client: httpx.AsyncClient, index: int, username: str) -> str:
        async with gate:
            response = await client.post(
                "/graphql",
                json={
                    "query": SIGN_IN,
                    "variables": {"identifier": username, "password": PASSWORD},
                },
                headers={"X-Forwarded-For": f"10.77.{index // 250}.{index % 250 + 1}"},
            )
        payload = response.json()
        if "errors" in payload:
            raise SystemExit(f"sign-in of {username} failed: {payload['errors']}")
        token: str = payload["data"]["signIn"]["accessToken"]
        return token

    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        return list(await asyncio.gather(*(one(client, i, u) for i, u in enumerate(usernames))))


@dataclass(frozen=True)
class Row:
    scenario: Scenario
    result: RunResult
    events: PipelineCounts  # per second over the measured run


def _verdict(scenario: Scenario, result: RunResult) -> str:
    if scenario.min_rps is None:
        return ""
    met = result.rps >= scenario.min_rps and (
        scenario.max_p99_ms is None or result.p99_ms <= scenario.max_p99_ms
    )
    return "met" if met else "NOT met"


def print_table(rows: list[Row], concurrency: int, duration_s: float, pinning: str) -> None:
    print(f"\n{concurrency} connections, {duration_s:g} s per scenario after warm-up, one worker")
    print(f"pinning: {pinning}")
    header = (
        f"{'scenario':<22}{'requests':>9}{'errors':>7}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'gen CPU%':>9}{'srv CPU%':>9}{'db CPU%':>8}  target"
    )
    print(header)
    print("-" * (len(header) + 28))
    for row in rows:
        r = row.result
        services = (
            f"{sum(r.services_cpu.values()):>8.0f}" if r.services_cpu is not None else f"{'-':>8}"
        )
        verdict = _verdict(row.scenario, r)
        print(
            f"{row.scenario.name:<22}{r.requests:>9}{r.errors:>7}{r.rps:>8.0f}{r.p50_ms:>8.1f}"
            f"{r.p99_ms:>8.1f}{r.generator_cpu:>9.0f}{r.server_cpu:>9.0f}{services}  "
            f"{row.scenario.target}{f' ({verdict})' if verdict else ''}"
        )
    print(
        "CPU% is of one core over the run: gen = wrk, srv = the server worker, "
        "db = embedded PostgreSQL + Redis + NATS"
    )
    for row in rows:
        if row.result.services_cpu:
            split = ", ".join(
                f"{name} {cpu:.0f}%" for name, cpu in sorted(row.result.services_cpu.items())
            )
            print(f"  db CPU in {row.scenario.name}: {split}")
    for row in rows:
        if row.events.published:
            print(f"  events in {row.scenario.name}: {describe(row.events)}")
    for row in rows:
        if row.result.error_sample:
            print(f"first error in {row.scenario.name}: {row.result.error_sample}")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=50, help="wrk connections")
    parser.add_argument("--duration", type=float, default=20, help="seconds per scenario")
    parser.add_argument("--warmup", type=float, default=5, help="seconds before each scenario")
    parser.add_argument("--viewers", type=int, help="signed-in viewers (default: concurrency)")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument(
        "--scenarios",
        default=",".join(s.key for s in SCENARIOS),
        help="comma-separated subset of: " + ", ".join(s.key for s in SCENARIOS),
    )
    parser.add_argument(
        "--profile-seconds", type=int, default=10, help="py-spy one scenario; 0 skips"
    )
    parser.add_argument("--profile-scenario", default="profile", help="the scenario py-spy samples")
    parser.add_argument("--seed", type=int, default=4, help="random seed of the data")
    parser.add_argument(
        "--statements",
        type=int,
        default=0,
        help="print the N statements PostgreSQL spent most time on in each scenario",
    )
    parser.add_argument(
        "--profile-out", type=Path, help="keep py-spy's raw stacks here (flamegraph input)"
    )
    return parser.parse_args()


def _profile_run(
    server: BenchServer, work: Path, tokens_file: Path, args: argparse.Namespace
) -> Profile | str:
    if py_spy_path() is None:
        return "py-spy is not installed (pip install py-spy): skipped"
    sampler = Sampler(server.pid, args.profile_seconds, work / "profile.raw")
    run_wrk(
        server,
        work / f"{args.profile_scenario}-measure.tsv",
        tokens_file,
        connections=args.concurrency,
        duration_s=args.profile_seconds + 2,
        threads=args.threads,
    )
    profile = sampler.result()
    if args.profile_out is not None and sampler.out.exists():
        shutil.copyfile(sampler.out, args.profile_out)
    return profile


def main() -> None:
    args = _parse_args()
    if wrk_path() is None:
        sys.exit(
            "wrk is not installed: it is the load generator of this benchmark.\n"
            "Install it with `sudo apt-get install -y wrk` (Debian/Ubuntu) or "
            "`brew install wrk` (macOS), then run again."
        )
    chosen = {key.strip() for key in args.scenarios.split(",") if key.strip()}
    scenarios = [s for s in SCENARIOS if s.key in chosen]
    viewers = args.viewers or args.concurrency
    sizes = SeedSizes(users=args.users, posts=args.posts, viewers=viewers, random_seed=args.seed)
    speed = core_speeds()  # before anything else runs
    print(speed_line(SERVER_CPU, speed), flush=True)
    started = time.monotonic()
    with bench_server() as server, tempfile.TemporaryDirectory(prefix="bench-http-") as tmp:
        work = Path(tmp)
        ready_s = time.monotonic() - started
        print(f"server ready at {server.url} (pid {server.pid}) in {ready_s:.1f} s")
        print(f"seeding {args.users} users and {args.posts} posts")
        data: SeedResult = seed(server.database_url, sizes)
        print(f"seeded in {data.seconds:.1f} s; most followed: "
              + ", ".join(f"{name} ({count})" for name, count in data.top_followers))  # fmt: skip
        t0 = time.monotonic()
        tokens = asyncio.run(sign_in_all(server.url, data.viewers))
        print(f"signed in {len(tokens)} viewers in {time.monotonic() - t0:.1f} s")
        # Pinned only now: seeding and the argon2 sign-ins may use both cores.
        pinning = pin(server)
        tokens_file = work / "tokens.txt"
        write_tokens(tokens_file, tokens)
        rng = random.Random(args.seed)
        rows: list[Row] = []
        for scenario in scenarios:
            for phase in ("warmup", "measure"):
                lines = scenario_lines(scenario.key, data, len(tokens), phase=phase, rng=rng)
                write_lines(work / f"{scenario.key}-{phase}.tsv", lines)
            if args.warmup > 0:
                run_wrk(
                    server,
                    work / f"{scenario.key}-warmup.tsv",
                    tokens_file,
                    connections=args.concurrency,
                    duration_s=args.warmup,
                    threads=args.threads,
                )
            counting = args.statements > 0 and reset_statements(server.database_url)
            events_before, measured_from = pipeline_counts(server.url), time.monotonic()
            result = run_wrk(
                server,
                work / f"{scenario.key}-measure.tsv",
                tokens_file,
                connections=args.concurrency,
                duration_s=args.duration,
                threads=args.threads,
            )
            events = pipeline_counts(server.url).rates(
                events_before, time.monotonic() - measured_from
            )
            rows.append(Row(scenario, result, events))
            if counting:
                print(f"  statements in {scenario.name}, per request ({result.requests}):")
                for line in top_statements(server.database_url, result.requests, args.statements):
                    print(f"    {line}")
            print(f"  {scenario.name}: {result.rps:.0f} req/s, p99 {result.p99_ms:.1f} ms")
        # The server may still be settling the writes' events on its core: stopped meanwhile.
        os.kill(server.pid, signal.SIGSTOP)
        try:
            after = core_speeds()
        finally:
            os.kill(server.pid, signal.SIGCONT)
        print(speed_line(SERVER_CPU, speed, after))
        print_table(rows, args.concurrency, args.duration, pinning)
        if args.profile_seconds > 0 and args.profile_scenario in chosen:
            profile = _profile_run(server, work, tokens_file, args)
            if isinstance(profile, Profile):
                names = {s.key: s.name for s in SCENARIOS}
                print_profile(profile, scenario=names.get(args.profile_scenario, "?"))
            else:
                print(f"\nno profile: {profile}")
    print(f"\nseeding {data.seconds:.0f} s, whole run {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
