-- depends: 0008.notifications
-- Transactional outbox: domain events are inserted in the same transaction
-- as the change they describe, and a relay publishes them (NATS / realtime)
-- and sets published_at. No FKs on purpose: events outlive the rows.

CREATE TABLE outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- '<aggregate>.<event>', e.g. 'post.liked', 'user.followed'.
    kind         text NOT NULL
        CONSTRAINT outbox_kind_format CHECK (kind ~ '^[a-z_]+\.[a-z_]+$'),
    aggregate_id bigint NULL,
    payload      jsonb NOT NULL,
    -- clock_timestamp(), not now(): events of one long transaction keep
    -- their real order and time.
    created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    published_at timestamptz NULL,
    attempts     integer NOT NULL DEFAULT 0
        CONSTRAINT outbox_attempts_nonneg CHECK (attempts >= 0),
    -- Last publish error, for operators; cleared by the relay on success.
    last_error   text NULL
);

-- The relay's work queue:
--   SELECT ... WHERE published_at IS NULL ORDER BY id LIMIT n FOR UPDATE SKIP LOCKED
-- Poll by this predicate rather than `id > last_id`: ids are assigned at
-- insert time, so a lower id can commit after a higher one.
CREATE INDEX outbox_unpublished_idx ON outbox (id)
    WHERE published_at IS NULL;

-- Wakes the relay (LISTEN fg_outbox). Statement-level so a multi-row insert
-- sends one notification; it is delivered only on commit, and the empty
-- payload means "look at the table", which stays the source of truth.
CREATE FUNCTION outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('fg_outbox', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER outbox_notify
    AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
