-- depends: 0020.counter_fillfactor
-- "Which of these comments has the viewer liked" (viewerHasLiked on a page of comments)
-- read every comment like of the viewer through the user_id index and filtered them:
-- ~530 µs for a viewer with ~500 comment likes, a third of the post page's database time
-- (bench_http --statements, 2026-11-27). With the comment in the key it is one probe per
-- comment. Still the FK index of the users -> comment_likes cascade (leading user_id).
CREATE INDEX comment_likes_user_id_comment_id_idx ON comment_likes (user_id, comment_id);
DROP INDEX comment_likes_user_id_idx;
