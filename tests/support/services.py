"""The real PostgreSQL, Redis and NATS the tests talk to.

`TEST_DATABASE_URL` / `TEST_REDIS_URL` / `TEST_NATS_URL` (or the plain variables) when set;
otherwise embedded servers on free ports, started once per test session.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql


def configured_url(name: str) -> str | None:
    return os.environ.get(f"TEST_{name}") or os.environ.get(name) or None


@dataclass(frozen=True)
class ServiceUrls:
    database_server: str  # any database on the server; tests create their own
    redis: str
    nats: str


def with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def create_database(server_url: str, prefix: str = "fg_test", template: str | None = None) -> str:
    """Create a database with a unique name (empty, or a copy of `template`'s URL's
    database, which nobody may be connected to); return its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        source = urlsplit(template).path.lstrip("/")
        statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(source))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(statement)
    return with_database(server_url, name)


def drop_database(server_url: str, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
