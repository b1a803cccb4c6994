-- depends: 0007.social_graph
-- In-app notifications, grouped ("ana and 3 others liked your post").
--
-- Grouping: while a group is unread it is one row, found through the partial
-- unique index on (recipient_id, group_key). A new event upserts into it:
--   INSERT ... ON CONFLICT (recipient_id, group_key) WHERE read_at IS NULL
--   DO UPDATE SET id = DEFAULT, actor_ids = ..., actor_count = notifications.actor_count + 1
-- `id = DEFAULT` re-keys the row with a fresh identity value, so a bumped
-- group sorts first and is picked up by an `id > cursor` resume. Once read,
-- the row leaves the open group and the next event starts a new row.
-- Caveat: ids are taken at insert time, not commit time, so concurrent
-- writers can commit out of id order; resumes should tolerate that (small
-- overlap window or de-dup by id on the client).

CREATE TABLE notifications (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    recipient_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Keep in sync with notification_settings_disabled_kinds_valid below.
    kind         text NOT NULL
        CONSTRAINT notifications_kind_valid CHECK (kind IN (
            'like', 'comment', 'reply', 'mention', 'follow', 'follow_request',
            'follow_accepted', 'comment_like', 'message', 'story_reply')),
    -- e.g. 'like:post:123', 'follow', 'comment:post:123'. Same key = same group.
    group_key    text NOT NULL
        CONSTRAINT notifications_group_key_length CHECK (char_length(group_key) BETWEEN 1 AND 200),
    -- Most recent actors first, capped by the application. Plain array, so no
    -- FK: readers must drop ids of users that are deleted/blocked.
    actor_ids    bigint[] NOT NULL,
    -- Total number of actors in the group, >= cardinality(actor_ids).
    actor_count  integer NOT NULL DEFAULT 1,
    post_id      bigint NULL REFERENCES posts (id) ON DELETE CASCADE,
    comment_id   bigint NULL REFERENCES comments (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    read_at      timestamptz NULL,
    CONSTRAINT notifications_actor_count_positive CHECK (actor_count >= 1),
    CONSTRAINT notifications_actor_ids_valid CHECK (
        cardinality(actor_ids) BETWEEN 1 AND actor_count
        AND array_ndims(actor_ids) = 1
        AND array_position(actor_ids, NULL) IS NULL)
);

-- The notification list / resume cursor.
CREATE INDEX notifications_recipient_id_idx ON notifications (recipient_id, id DESC);

-- Unread badge count and "mark all read".
CREATE INDEX notifications_unread_idx ON notifications (recipient_id, id)
    WHERE read_at IS NULL;

-- At most one open (unread) group per key and recipient.
CREATE UNIQUE INDEX notifications_open_group_key ON notifications (recipient_id, group_key)
    WHERE read_at IS NULL;

-- FK support for the posts / comments cascades.
CREATE INDEX notifications_post_id_idx ON notifications (post_id)
    WHERE post_id IS NOT NULL;

CREATE INDEX notifications_comment_id_idx ON notifications (comment_id)
    WHERE comment_id IS NOT NULL;

CREATE TRIGGER notifications_set_updated_at
    BEFORE UPDATE ON notifications
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- Per-user opt-outs, stored as the list of DISABLED kinds (a text[] column,
-- not per-type booleans or jsonb): a new kind is enabled for everybody
-- without a migration, and a missing row means "everything enabled".
CREATE TABLE notification_settings (
    user_id        bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    disabled_kinds text[] NOT NULL DEFAULT '{}'
        -- `<@` is false for NULL elements, so those are rejected too.
        CONSTRAINT notification_settings_disabled_kinds_valid CHECK (disabled_kinds <@ ARRAY[
            'like', 'comment', 'reply', 'mention', 'follow', 'follow_request',
            'follow_accepted', 'comment_like', 'message', 'story_reply']::text[]),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER notification_settings_set_updated_at
    BEFORE UPDATE ON notification_settings
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();
