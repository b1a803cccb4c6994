-- depends: 0013.oauth_identities
-- createPost's idempotency keys: a retry with the same key within the window returns the
-- first post. The primary key serialises concurrent retries (the second waits for the
-- first's commit, then finds its row).

CREATE TABLE post_idempotency_keys (
    author_id  bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key        text NOT NULL CONSTRAINT post_idempotency_keys_key_length CHECK (char_length(key) BETWEEN 1 AND 128),
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (author_id, key)
);

CREATE INDEX post_idempotency_keys_post_id_idx ON post_idempotency_keys (post_id);

-- A post as the application reads it: one place that knows how media ids are gathered.
CREATE VIEW post_rows AS
SELECT p.id, p.author_id, p.caption, p.like_count, p.comment_count, p.created_at, p.edited_at,
       p.deleted_at, p.deleted_at IS NOT NULL AS deleted,
       coalesce((SELECT array_agg(m.media_id ORDER BY m.position)
                 FROM post_media m WHERE m.post_id = p.id), '{}') AS media_ids
FROM posts p;
