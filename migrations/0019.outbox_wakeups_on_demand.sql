-- depends: 0018.rsa_signing_keys
-- Writers notify the relay only while a relay is asleep waiting for them. NOTIFY takes a
-- database-wide lock at commit, held until the commit is flushed, so with a notification
-- per write every writing transaction committed one after the other (no group commit):
-- likePost ran 1.18x faster without it (interleaved runs, 2026-11-27). A relay about to
-- sleep puts its LISTEN connection's pid here (and takes it out when woken); while it is
-- awake it looks for rows itself. Unlogged: after a crash the table is empty, the
-- relays' next sleep fills it again. A row whose backend is gone only makes writers
-- notify for nothing (relays remove such rows).
CREATE UNLOGGED TABLE outbox_sleepers (
    pid   integer PRIMARY KEY,
    since timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM outbox_sleepers) THEN
        PERFORM pg_notify('fg_outbox', '');
    END IF;
    RETURN NULL;
END;
$$;
