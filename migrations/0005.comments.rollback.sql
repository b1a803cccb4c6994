DROP TABLE IF EXISTS comments;

DROP FUNCTION IF EXISTS comments_check_parent();
