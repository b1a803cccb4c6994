DROP TABLE IF EXISTS comment_likes;

DROP TABLE IF EXISTS post_likes;
