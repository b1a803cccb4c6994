-- depends: 0006.likes
-- Follows (with requests for private accounts), blocks and mutes.

CREATE TABLE follows (
    follower_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'pending' = follow request to a private account awaiting approval.
    status      text NOT NULL
        CONSTRAINT follows_status_valid CHECK (status IN ('accepted', 'pending')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    accepted_at timestamptz NULL,
    PRIMARY KEY (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id),
    -- accepted_at is set exactly when the follow is accepted (for a public
    -- account that is at insert time), so it is never stale or missing.
    CONSTRAINT follows_accepted_at_consistent CHECK ((status = 'accepted') = (accepted_at IS NOT NULL))
);

-- Followers list / pending requests of a user, newest first.
CREATE INDEX follows_followee_idx ON follows (followee_id, status, created_at DESC, follower_id);

-- Following list / my outgoing requests, newest first.
CREATE INDEX follows_follower_idx ON follows (follower_id, status, created_at DESC, followee_id);

CREATE TABLE blocks (
    blocker_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT blocks_not_self CHECK (blocker_id <> blocked_id)
);

-- "Who blocked me" for visibility filtering, and FK support.
CREATE INDEX blocks_blocked_id_idx ON blocks (blocked_id);

CREATE TABLE mutes (
    muter_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    muted_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (muter_id, muted_id),
    CONSTRAINT mutes_not_self CHECK (muter_id <> muted_id)
);

-- FK support for the users cascade.
CREATE INDEX mutes_muted_id_idx ON mutes (muted_id);
