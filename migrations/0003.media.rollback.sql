DROP INDEX IF EXISTS users_avatar_media_id_idx;

ALTER TABLE users DROP CONSTRAINT IF EXISTS users_avatar_media_id_fkey;

DROP TABLE IF EXISTS media;
