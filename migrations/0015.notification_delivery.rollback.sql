DROP INDEX IF EXISTS notifications_read_at_idx;

DROP TABLE IF EXISTS notification_retention;

DROP TABLE IF EXISTS notification_group_actors;

DROP TABLE IF EXISTS handled_events;
