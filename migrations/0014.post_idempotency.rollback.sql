DROP VIEW IF EXISTS post_rows;
DROP TABLE IF EXISTS post_idempotency_keys;
