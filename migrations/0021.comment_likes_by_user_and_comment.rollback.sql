CREATE INDEX comment_likes_user_id_idx ON comment_likes (user_id);
DROP INDEX comment_likes_user_id_comment_id_idx;
