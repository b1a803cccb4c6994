"""Where PostgreSQL's time goes during a run: pg_stat_statements, reset before the run
and read after it, per request of the scenario. The embedded PostgreSQL preloads the
extension; a server on DATABASE_URL must preload it too, or this reports nothing."""

from __future__ import annotations

import psycopg

_TOP = """
SELECT calls, total_exec_time, rows, left(regexp_replace(query, '\\s+', ' ', 'g'), %s)
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC LIMIT %s
"""


def reset_statements(database_url: str) -> bool:
    """Start counting afresh; False when the extension cannot be loaded here."""
    try:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
    except psycopg.Error:
        return False
    return True


def top_statements(database_url: str, requests: int, top: int, width: int = 150) -> list[str]:
    """The `top` statements by execution time since the reset, as lines: calls and
    rows per request, mean execution time."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(_TOP, (width, top)).fetchall()
    total_ms = sum(row[1] for row in rows) or 1.0
    lines = [f"{'calls/req':>9}{'µs each':>9}{'share':>7}{'rows':>6}  statement"]
    for calls, exec_ms, returned, query in rows:
        lines.append(
            f"{calls / max(requests, 1):>9.2f}{1000 * exec_ms / max(calls, 1):>9.0f}"
            f"{100 * exec_ms / total_ms:>6.0f}%{returned / max(calls, 1):>6.1f}  {query}"
        )
    return lines
