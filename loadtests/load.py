"""The four scenarios, written as wrk request files, and wrk runs measured from outside.

wrk (C, one event-loop thread per -t) sends the requests; each scenario is a file of
prepared bodies with a bearer token each, cycled through by `bench_http.lua`. The
generator's own CPU time comes from wait4() on its process, the server's and the
embedded services' from psutil, over the same window.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from loadtests.seed import SeedResult
from loadtests.server import BenchServer, CpuMeter, generator_command

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "bench_http.lua"

PROFILE_QUERY = """query Profile($username: String!) {
  user(username: $username) {
    id username fullName bio website isPrivate followersCount followingCount postsCount
    relationship { following followedBy requested requestedBy blocking blockedBy muting }
    posts(first: 12) {
      edges { cursor node {
        id caption mediaIds likeCount commentCount createdAt viewerHasLiked
        author { id username }
      } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
POST_QUERY = """query PostPage($id: ID!) {
  post(id: $id) {
    id caption mediaIds likeCount commentCount createdAt viewerHasLiked
    author { id username fullName }
    comments(first: 20) {
      edges { node { id body createdAt likeCount viewerHasLiked author { username } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
FLOOR_QUERY = "query Me { me { id } }"
LIKE_MUTATION = """mutation Like($id: ID!) {
  likePost(id: $id) { postId likeCount viewerHasLiked }
}"""
UNLIKE_MUTATION = """mutation Unlike($id: ID!) {
  unlikePost(id: $id) { postId likeCount viewerHasLiked }
}"""
CREATE_MUTATION = """mutation CreatePost($input: CreatePostInput!, $key: String) {
  createPost(input: $input, idempotencyKey: $key) {
    id caption mediaIds likeCount commentCount createdAt author { id username }
  }
}"""


def _body(query: str, variables: dict[str, object]) -> str:
    return json.dumps({"query": query, "variables": variables}, ensure_ascii=False)


@dataclass(frozen=True)
class Scenario:
    key: str
    name: str
    target: str  # the target, for the table
    min_rps: float | None = None
    max_p99_ms: float | None = None


SCENARIOS = [
    Scenario("profile", "profile page", ">=1000 req/s, p99 <=50 ms", 1000, 50),
    Scenario("post", "post + 20 comments", "-"),
    Scenario("like", "likePost/unlikePost", ">=1500 req/s", 1500),
    Scenario("create", "createPost", "-"),
    # What every request pays whatever it asks: HTTP, authentication, GraphQL's plumbing.
    Scenario("floor", "floor: me { id }", "-"),
]


def scenario_lines(
    key: str, data: SeedResult, viewers: int, *, phase: str, rng: random.Random
) -> Iterator[tuple[int, str]]:
    """(token index, body) for one run; `phase` keeps warm-up and measurement writes apart."""
    if key == "profile":
        for i in range(6000):
            yield i % viewers, _body(PROFILE_QUERY, {"username": rng.choice(data.profile_targets)})
    elif key == "post":
        for i in range(6000):
            yield i % viewers, _body(POST_QUERY, {"id": str(rng.choice(data.post_targets))})
    elif key == "like":
        # Every (viewer, post) pair of the pool liked, then all unliked, and so on: each
        # request changes a row. Consecutive requests touch different posts, so the 50 in
        # flight do not queue on one post's counter row.
        pool = data.like_pools[0 if phase == "warmup" else 1]
        pairs = [(v, post) for v in range(viewers) for post in pool]
        for mutation in (LIKE_MUTATION, UNLIKE_MUTATION):
            for v, post in pairs:
                yield v, _body(mutation, {"id": str(post)})
    elif key == "create":
        nonce = f"{phase}-{rng.randrange(1 << 30):x}"
        for i in range(3000):
            tags = rng.sample(data.hashtags[:300], rng.randrange(0, 5))
            mention = rng.choice(data.usernames)
            caption = " ".join(
                [
                    "Benchmark post from the load run",
                    f"with @{mention}" if rng.random() < 0.3 else "",
                    *(f"#{t}" for t in tags),
                ]
            )
            variables: dict[str, object] = {
                "input": {"caption": caption, "mediaIds": []},
                "key": f"bench-{nonce}-@@N@@",
            }
            yield i % viewers, _body(CREATE_MUTATION, variables)
    elif key == "floor":
        for i in range(viewers):
            yield i, _body(FLOOR_QUERY, {})
    else:
        raise ValueError(f"unknown scenario {key!r}")


def write_lines(path: Path, lines: Iterator[tuple[int, str]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for token_index, body in lines:
            assert "\n" not in body
            assert "\t" not in body
            handle.write(f"{token_index}\t{body}\n")


def write_tokens(path: Path, tokens: Sequence[str]) -> None:
    path.write_text("".join(f"{token}\n" for token in tokens))


@dataclass(frozen=True)
class RunResult:
    requests: int
    errors: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    generator_cpu: float  # % of one core
    server_cpu: float
    services_cpu: dict[str, float] | None  # per embedded service
    error_sample: str


_RESULT = re.compile(r"^BENCH_RESULT (.*)$", re.MULTILINE)
_ERROR = re.compile(r"^BENCH_ERROR (.*)$", re.MULTILINE)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    server: BenchServer,
    requests_file: Path,
    tokens_file: Path,
    *,
    connections: int,
    duration_s: float,
    threads: int = 1,
) -> RunResult:
    wrk = wrk_path()
    assert wrk is not None
    argv = generator_command(
        [
            wrk, f"-t{threads}", f"-c{connections}", f"-d{duration_s:g}s", "--timeout", "10s",
            "-s", str(LUA_SCRIPT), server.url, "--", str(requests_file), str(tokens_file),
        ]
    )  # fmt: skip
    meter = CpuMeter(server)
    started = time.monotonic()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - started
    server_cpu, services_cpu = meter.percentages()
    match = _RESULT.search(output)
    if process.returncode != 0 or match is None:
        raise SystemExit(f"wrk failed (exit {process.returncode}):\n{output}")
    fields = {k: float(v) for k, v in (item.split("=") for item in match.group(1).split())}
    errors = fields["socket_errors"] + fields["timeouts"] + fields["bad_status"]
    error = _ERROR.search(output)
    return RunResult(
        requests=int(fields["requests"]),
        errors=int(errors + fields["gql_errors"]),
        rps=fields["requests"] / (fields["duration_us"] / 1e6),
        p50_ms=fields["p50_us"] / 1000,
        p90_ms=fields["p90_us"] / 1000,
        p99_ms=fields["p99_us"] / 1000,
        max_ms=fields["max_us"] / 1000,
        generator_cpu=(usage.ru_utime + usage.ru_stime) / wall * 100,
        server_cpu=server_cpu,
        services_cpu=services_cpu,
        error_sample=error.group(1) if error else "",
    )
