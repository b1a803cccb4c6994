"""`fowergram prune` and `fowergram users set-role` against the real database."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
from support.auth_helpers import bearer, graphql, http_client, new_person, sign_up
from support.live_server import LiveServer
from support.services import ServiceUrls


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fowergram.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prune_deletes_only_what_is_past_keeping(migrated_database: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        user_id = conn.execute(
            "INSERT INTO users (username, email) VALUES ('prunee', 'prunee@example.com') "
            "RETURNING id"
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "INSERT INTO sessions (id, user_id, expires_at, revoked_at, revoked_reason) VALUES "
            "(gen_random_uuid(), %s, now() - interval '40 days', now() - interval '40 days',"
            " 'sign_out'), (gen_random_uuid(), %s, now() + interval '1 day', NULL, NULL)",
            (user_id, user_id),
        )
    result = _cli({"DATABASE_URL": migrated_database}, "prune")
    assert result.returncode == 0, result.stderr
    assert "sessions: " in result.stdout
    with psycopg.connect(migrated_database) as conn:
        left = conn.execute(
            "SELECT count(*) FROM sessions WHERE user_id = %s", (user_id,)
        ).fetchone()
    assert left == (1,)  # the live one stays


def test_prune_deletes_published_events_only_once_they_are_old(migrated_database: str) -> None:
    with psycopg.connect(migrated_database, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO outbox (kind, payload, created_at, published_at) VALUES "
            "('prune_test.old_sent', '{}', now() - interval '9 days', now() - interval '8 days'),"
            "('prune_test.new_sent', '{}', now() - interval '2 days', now() - interval '1 day'),"
            "('prune_test.unsent', '{}', now() - interval '30 days', NULL)"
        )
    result = _cli({"DATABASE_URL": migrated_database}, "prune")
    assert result.returncode == 0, result.stderr
    assert "outbox: " in result.stdout
    with psycopg.connect(migrated_database) as conn:
        kinds = conn.execute(
            "SELECT kind FROM outbox WHERE kind LIKE 'prune_test.%' ORDER BY kind"
        ).fetchall()
    assert kinds == [("prune_test.new_sent",), ("prune_test.unsent",)]


def test_set_role_grants_and_signs_the_user_out(
    live_server: LiveServer, service_urls: ServiceUrls, migrated_database: str
) -> None:
    person = new_person()
    with http_client(live_server.http_url) as client:
        token = sign_up(client, person)["accessToken"]
        env = {
            "DATABASE_URL": migrated_database,
            "REDIS_URL": service_urls.redis,
            # The live server's Redis namespace, so it sees the revocation.
            "REDIS_KEY_PREFIX": live_server_prefix(live_server),
        }
        result = _cli(env, "users", "set-role", person.username.upper(), "moderator")
        assert result.returncode == 0, result.stderr
        assert "is now moderator; 1 session(s) signed out" in result.stdout
        refused = graphql(client, "{ me { role } }", headers=bearer(token))
        assert refused.status_code == 401
        again = client.post(
            "/auth/signin", json={"identifier": person.username, "password": person.password}
        ).json()
        me = graphql(client, "{ me { role } }", headers=bearer(again["accessToken"])).json()
    assert me == {"data": {"me": {"role": "moderator"}}}
    missing = _cli(env, "users", "set-role", "no_such_person_here", "admin")
    assert missing.returncode == 1
    assert "no user named" in missing.stderr


def live_server_prefix(server: LiveServer) -> str:
    return str(server.settings.redis_key_prefix)
