-- depends: 0003.media
-- Posts, their media carousel, edit history, hashtags, mentions and saves.
--
-- FK rule used from here on: every referencing column has an index the FK
-- action can use (leading column, not limited by a deleted_at predicate), so
-- hard deletes / account purges never seq-scan a big table per row.

CREATE TABLE posts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- Posts are soft-deleted; a hard delete only happens via account purge.
    author_id     bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    caption       text NOT NULL DEFAULT ''
        CONSTRAINT posts_caption_length CHECK (char_length(caption) <= 2200),
    like_count    integer NOT NULL DEFAULT 0 CONSTRAINT posts_like_count_nonneg CHECK (like_count >= 0),
    comment_count integer NOT NULL DEFAULT 0 CONSTRAINT posts_comment_count_nonneg CHECK (comment_count >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- Bumped by any row change (counters included), see edited_at for the
    -- user-visible "edited" marker.
    updated_at    timestamptz NOT NULL DEFAULT now(),
    edited_at     timestamptz NULL,
    deleted_at    timestamptz NULL
);

-- Profile grid / feeds: keyset pagination on id (identity ~ creation order).
CREATE INDEX posts_author_id_idx ON posts (author_id, id DESC)
    WHERE deleted_at IS NULL;

-- FK support for the users -> posts cascade (the index above is partial).
CREATE INDEX posts_author_id_fk_idx ON posts (author_id);

CREATE TRIGGER posts_set_updated_at
    BEFORE UPDATE ON posts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- Carousel items, 0-based position, at most 10 per post.
CREATE TABLE post_media (
    post_id  bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    -- NO ACTION: a file that is still part of a post cannot be deleted on its
    -- own (delete the post first). Deferred to commit because an account purge
    -- reaches media (users -> media) before post_media (users -> posts ->
    -- post_media), and an immediate check would reject the purge.
    media_id bigint NOT NULL REFERENCES media (id) DEFERRABLE INITIALLY DEFERRED,
    position smallint NOT NULL
        CONSTRAINT post_media_position_range CHECK (position BETWEEN 0 AND 9),
    PRIMARY KEY (post_id, position),
    CONSTRAINT post_media_post_id_media_id_key UNIQUE (post_id, media_id)
);

CREATE INDEX post_media_media_id_idx ON post_media (media_id);

-- Caption edit history: one row per edit, holding the caption it replaced.
CREATE TABLE post_edits (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id          bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    previous_caption text NOT NULL,
    edited_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX post_edits_post_id_idx ON post_edits (post_id, id DESC);

-- tag is stored without the leading '#', in the case first seen (display
-- form), unique case-insensitively. No letter whitelist: tags may be any
-- script, so only whitespace and '#' are rejected.
CREATE TABLE hashtags (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tag        text NOT NULL
        CONSTRAINT hashtags_tag_format CHECK (char_length(tag) BETWEEN 1 AND 100 AND tag !~ '[[:space:]#]'),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX hashtags_tag_lower_key ON hashtags (lower(tag));

CREATE INDEX hashtags_tag_trgm_idx ON hashtags USING gin (lower(tag) gin_trgm_ops);

CREATE TABLE post_hashtags (
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    hashtag_id bigint NOT NULL REFERENCES hashtags (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, hashtag_id)
);

-- Hashtag page: newest posts first.
CREATE INDEX post_hashtags_hashtag_id_idx ON post_hashtags (hashtag_id, post_id DESC);

-- Users @-mentioned in a caption.
CREATE TABLE post_mentions (
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);

-- "Posts I'm mentioned in", newest first.
CREATE INDEX post_mentions_user_id_idx ON post_mentions (user_id, post_id DESC);

CREATE TABLE saved_posts (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, post_id)
);

-- Saved list ordered by save time, post_id as the keyset tie-breaker.
CREATE INDEX saved_posts_user_id_created_at_idx ON saved_posts (user_id, created_at DESC, post_id DESC);

CREATE INDEX saved_posts_post_id_idx ON saved_posts (post_id);
