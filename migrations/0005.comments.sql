-- depends: 0004.posts
-- Comments with one level of replies.

CREATE TABLE comments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    post_id     bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL = top-level comment. A reply always points at the top-level
    -- comment of the same post (replying to a reply = replying to its
    -- parent), enforced by comments_check_parent() below.
    parent_id   bigint NULL REFERENCES comments (id) ON DELETE CASCADE,
    body        text NOT NULL
        CONSTRAINT comments_body_length CHECK (char_length(body) BETWEEN 1 AND 2200),
    like_count  integer NOT NULL DEFAULT 0 CONSTRAINT comments_like_count_nonneg CHECK (like_count >= 0),
    reply_count integer NOT NULL DEFAULT 0 CONSTRAINT comments_reply_count_nonneg CHECK (reply_count >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz NULL,
    CONSTRAINT comments_parent_not_self CHECK (parent_id <> id)
);

-- Top-level comments of a post, oldest first.
CREATE INDEX comments_post_id_idx ON comments (post_id, id)
    WHERE deleted_at IS NULL AND parent_id IS NULL;

-- Replies of a comment, oldest first.
CREATE INDEX comments_parent_id_idx ON comments (parent_id, id)
    WHERE deleted_at IS NULL AND parent_id IS NOT NULL;

CREATE INDEX comments_author_id_idx ON comments (author_id, id DESC);

-- FK support (the listing indexes above are partial on deleted_at): without
-- these, deleting a post would seq-scan comments once per deleted comment.
CREATE INDEX comments_post_id_fk_idx ON comments (post_id);

CREATE INDEX comments_parent_id_fk_idx ON comments (parent_id)
    WHERE parent_id IS NOT NULL;

CREATE TRIGGER comments_set_updated_at
    BEFORE UPDATE ON comments
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
    EXECUTE FUNCTION set_updated_at();

-- A CHECK cannot look at another row, hence a trigger. Errors carry SQLSTATE
-- 23514 (check_violation) and a constraint name, like a real CHECK.
CREATE FUNCTION comments_check_parent() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    parent_post   bigint;
    parent_parent bigint;
BEGIN
    IF NEW.parent_id IS NULL THEN
        RETURN NEW;
    END IF;
    SELECT c.post_id, c.parent_id INTO parent_post, parent_parent
    FROM comments c
    WHERE c.id = NEW.parent_id;
    IF NOT FOUND THEN
        RETURN NEW;  -- let the foreign key report it
    END IF;
    IF parent_post <> NEW.post_id THEN
        RAISE EXCEPTION 'reply % must belong to the same post as its parent %', NEW.id, NEW.parent_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'comments_parent_same_post',
                  TABLE = 'comments';
    END IF;
    IF parent_parent IS NOT NULL
       OR (TG_OP = 'UPDATE' AND EXISTS (SELECT 1 FROM comments c WHERE c.parent_id = NEW.id)) THEN
        RAISE EXCEPTION 'comment % would be nested more than one level deep', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'comments_parent_top_level',
                  TABLE = 'comments';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER comments_check_parent
    BEFORE INSERT OR UPDATE OF parent_id, post_id ON comments
    FOR EACH ROW EXECUTE FUNCTION comments_check_parent();
