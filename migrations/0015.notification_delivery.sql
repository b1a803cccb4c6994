-- depends: 0014.post_idempotency
-- What the notifications consumer needs besides the notifications themselves.

-- Events a consumer has applied, written in the same transaction as its effect: a
-- re-delivered event finds its row and changes nothing twice. Pruned after the stream's
-- retention (an event older than that cannot be delivered again).
CREATE TABLE handled_events (
    consumer   text NOT NULL
        CONSTRAINT handled_events_consumer_length CHECK (char_length(consumer) BETWEEN 1 AND 64),
    event_id   bigint NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX handled_events_handled_at_idx ON handled_events (handled_at);

-- Who joined which notification group: a group keeps only its latest actors
-- (notifications.actor_ids), so counting every distinct actor once, and not notifying
-- twice for an un-like and a like again, needs them all. `group_created_at` is the
-- created_at of the group row the actor last joined: the same value as the open row's
-- means "already counted in it". Group keys carry their window (a day), so these rows
-- are pruned a few days after their last use.
CREATE TABLE notification_group_actors (
    recipient_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    group_key        text NOT NULL,
    actor_id         bigint NOT NULL,  -- no FK, as notifications.actor_ids
    group_created_at timestamptz NOT NULL,
    seen_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (recipient_id, group_key, actor_id)
);

CREATE INDEX notification_group_actors_seen_at_idx ON notification_group_actors (seen_at);

-- The highest notification id retention has deleted: a resume (`id > cursor`) from
-- below it may have lost rows and must reload instead. One row.
CREATE TABLE notification_retention (
    singleton      boolean PRIMARY KEY DEFAULT true CONSTRAINT notification_retention_one_row CHECK (singleton),
    pruned_through bigint NOT NULL DEFAULT 0
);

INSERT INTO notification_retention DEFAULT VALUES;

-- Retention deletes read notifications by age.
CREATE INDEX notifications_read_at_idx ON notifications (read_at) WHERE read_at IS NOT NULL;
