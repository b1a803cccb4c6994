-- depends: 0014.post_idempotency
-- "Show activity status" (Instagram's name): whether others may see when you are online or
-- were last active. On by default; off also hides everyone else's from you.

ALTER TABLE users ADD COLUMN show_activity_status boolean NOT NULL DEFAULT true;
