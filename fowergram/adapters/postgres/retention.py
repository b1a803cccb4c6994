"""What is kept, and for how long: old sessions, spent tokens, retired keys go."""

from __future__ import annotations

import asyncpg

# Statement per table, each with the reason it may go.
_PRUNE = {
    # Ended sessions are listed nowhere and refresh nothing; a month of history is kept.
    "sessions": (
        "DELETE FROM sessions WHERE (revoked_at IS NOT NULL AND revoked_at < now() - "
        "interval '30 days') OR expires_at < now() - interval '30 days'"
    ),
    # Replaced refresh tokens only serve theft detection, which a week of them covers.
    "refresh_tokens": ("DELETE FROM refresh_tokens WHERE replaced_at < now() - interval '7 days'"),
    "auth_tokens": (
        "DELETE FROM auth_tokens WHERE expires_at < now() - interval '1 day' "
        "OR used_at < now() - interval '1 day'"
    ),
    "signing_keys": "DELETE FROM signing_keys WHERE verifies_until < now() - interval '1 day'",
    "post_idempotency_keys": (
        "DELETE FROM post_idempotency_keys WHERE created_at < now() - interval '1 day'"
    ),
    # Published events live on in the stream (7 days by default); unpublished ones are
    # never deleted, whatever their age: they are what the relay still owes.
    "outbox": "DELETE FROM outbox WHERE published_at < now() - interval '7 days'",
    # An event can be delivered again while the stream keeps it (7 days by default).
    "handled_events": "DELETE FROM handled_events WHERE handled_at < now() - interval '14 days'",
    # Group keys end with their day: past it a key takes no new actors.
    "notification_group_actors": (
        "DELETE FROM notification_group_actors WHERE seen_at < now() - interval '3 days'"
    ),
    # Read ones, after 90 days; the highest id deleted is remembered, so a resume from
    # below it is refused (resync) rather than silently missing rows.
    "notifications": (
        "WITH old AS (SELECT id FROM notifications WHERE read_at < now() - interval '90 days'), "
        "mark AS (UPDATE notification_retention SET pruned_through = "
        "greatest(pruned_through, (SELECT max(id) FROM old)) WHERE EXISTS (SELECT 1 FROM old)) "
        "DELETE FROM notifications WHERE id IN (SELECT id FROM old)"
    ),
}


async def prune(pool: asyncpg.Pool) -> dict[str, int]:
    """Delete what is past keeping; return the rows deleted per table."""
    deleted: dict[str, int] = {}
    for table, statement in _PRUNE.items():
        status: str = await pool.execute(statement)
        deleted[table] = int(status.rsplit(" ", 1)[-1])
    return deleted


async def set_role(pool: asyncpg.Pool, username: str, role: str) -> list[str]:
    """Give `username` a role and end its sessions (their tokens carry the old role);
    return the ended session ids (empty if no such user)."""
    async with pool.acquire() as conn, conn.transaction():
        user_id = await conn.fetchval(
            "UPDATE users SET role = $2 WHERE lower(username) = lower($1) "
            "AND deleted_at IS NULL RETURNING id",
            username,
            role,
        )
        if user_id is None:
            raise LookupError(username)
        rows = await conn.fetch(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'revoked' "
            "WHERE user_id = $1 AND revoked_at IS NULL RETURNING id",
            user_id,
        )
    return [str(row["id"]) for row in rows]
