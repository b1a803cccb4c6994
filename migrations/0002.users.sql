-- depends: 0001.extensions
-- Users, plus the shared set_updated_at() trigger function.

-- Shared by every table with an updated_at column. The triggers are created
-- with WHEN (OLD.* IS DISTINCT FROM NEW.*) so no-op UPDATEs do not bump it.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username          text NOT NULL
        CONSTRAINT users_username_format CHECK (username ~ '^[A-Za-z0-9._]{1,30}$'),
    email             text NOT NULL
        CONSTRAINT users_email_format CHECK (char_length(email) <= 254 AND strpos(email, '@') > 1),
    -- NULL for social-login-only accounts.
    password_hash     text NULL,
    full_name         text NOT NULL DEFAULT ''
        CONSTRAINT users_full_name_length CHECK (char_length(full_name) <= 64),
    bio               text NOT NULL DEFAULT ''
        CONSTRAINT users_bio_length CHECK (char_length(bio) <= 150),
    website           text NULL
        CONSTRAINT users_website_length CHECK (char_length(website) <= 2048),
    -- FK to media(id) is added in 0003.media (media does not exist yet).
    avatar_media_id   bigint NULL,
    is_private        boolean NOT NULL DEFAULT false,
    role              text NOT NULL DEFAULT 'user'
        CONSTRAINT users_role_valid CHECK (role IN ('user', 'moderator', 'admin')),
    email_verified_at timestamptz NULL,
    presence_visible  boolean NOT NULL DEFAULT true,
    -- Denormalised counters, maintained by the application in the same
    -- transaction as the row they count (no triggers).
    followers_count   integer NOT NULL DEFAULT 0 CONSTRAINT users_followers_count_nonneg CHECK (followers_count >= 0),
    following_count   integer NOT NULL DEFAULT 0 CONSTRAINT users_following_count_nonneg CHECK (following_count >= 0),
    posts_count       integer NOT NULL DEFAULT 0 CONSTRAINT users_posts_count_nonneg CHECK (posts_count >= 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    -- Soft delete. Rows are hard-deleted only by an account purge, which
    -- cascades to everything the user owns.
    deleted_at        timestamptz NULL
);

-- Not partial on deleted_at: a deleted account keeps its username and email
-- reserved. The application maps these index names to "taken" errors.
-- text_pattern_ops: under a non-"C" collation (the server and the embedded
-- stack use C.UTF-8) only this opclass lets a btree serve the typeahead
-- `lower(username) LIKE 'an%'` as a range scan. Equality lookups and
-- ON CONFLICT (lower(username)) use it as usual.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username) text_pattern_ops);

CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

-- User search. Partial, so queries must say `AND deleted_at IS NULL`.
CREATE INDEX users_username_trgm_idx ON users USING gin (lower(username) gin_trgm_ops)
    WHERE deleted_at IS NULL;

CREATE INDEX users_full_name_trgm_idx ON users USING gin (lower(full_name) gin_trgm_ops)
    WHERE deleted_at IS NULL;

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();
