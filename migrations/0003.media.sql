-- depends: 0002.users
-- Uploaded media (object-storage files) and the users.avatar_media_id FK.

CREATE TABLE media (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind        text NOT NULL
        CONSTRAINT media_kind_valid CHECK (kind IN ('image', 'video')),
    status      text NOT NULL DEFAULT 'pending'
        CONSTRAINT media_status_valid CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    -- Object key of the original upload in the bucket.
    storage_key text NOT NULL
        CONSTRAINT media_storage_key_key UNIQUE
        CONSTRAINT media_storage_key_length CHECK (char_length(storage_key) BETWEEN 1 AND 1024),
    mime_type   text NOT NULL
        CONSTRAINT media_mime_type_format CHECK (char_length(mime_type) <= 255 AND strpos(mime_type, '/') > 1),
    -- Unknown until processing finishes, hence nullable.
    width       integer NULL CONSTRAINT media_width_positive CHECK (width > 0),
    height      integer NULL CONSTRAINT media_height_positive CHECK (height > 0),
    size_bytes  bigint  NULL CONSTRAINT media_size_bytes_positive CHECK (size_bytes > 0),
    -- Videos only.
    duration_ms integer NULL CONSTRAINT media_duration_ms_positive CHECK (duration_ms > 0),
    blurhash    text NULL CONSTRAINT media_blurhash_length CHECK (char_length(blurhash) <= 128),
    -- Processed renditions, e.g. {"thumb": {"key": "...", "width": 150, "height": 150}}.
    variants    jsonb NOT NULL DEFAULT '{}'
        CONSTRAINT media_variants_object CHECK (jsonb_typeof(variants) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX media_owner_id_idx ON media (owner_id, id DESC);

-- For the job that garbage-collects abandoned / stuck uploads.
CREATE INDEX media_unfinished_idx ON media (created_at)
    WHERE status IN ('pending', 'processing');

CREATE TRIGGER media_set_updated_at
    BEFORE UPDATE ON media
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- SET NULL: deleting the avatar file just leaves the user without an avatar.
ALTER TABLE users
    ADD CONSTRAINT users_avatar_media_id_fkey
    FOREIGN KEY (avatar_media_id) REFERENCES media (id) ON DELETE SET NULL;

-- Without it every media delete would scan users for the FK action.
CREATE INDEX users_avatar_media_id_idx ON users (avatar_media_id)
    WHERE avatar_media_id IS NOT NULL;
