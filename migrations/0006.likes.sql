-- depends: 0005.comments
-- Likes on posts and comments. The composite primary keys make a like
-- idempotent (INSERT ... ON CONFLICT DO NOTHING).

CREATE TABLE post_likes (
    post_id    bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);

-- "Liked by" list, newest first, user_id as the keyset tie-breaker.
CREATE INDEX post_likes_post_id_created_at_idx ON post_likes (post_id, created_at DESC, user_id);

-- "Posts I liked", and FK support for the users cascade.
CREATE INDEX post_likes_user_id_created_at_idx ON post_likes (user_id, created_at DESC);

CREATE TABLE comment_likes (
    comment_id bigint NOT NULL REFERENCES comments (id) ON DELETE CASCADE,
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (comment_id, user_id)
);

CREATE INDEX comment_likes_user_id_idx ON comment_likes (user_id);
