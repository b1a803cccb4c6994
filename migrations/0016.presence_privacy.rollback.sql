ALTER TABLE users DROP COLUMN IF EXISTS show_activity_status;
