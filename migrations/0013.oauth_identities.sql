-- depends: 0011.auth_tokens
-- Social sign-in: which provider account belongs to which user. Linked to an existing
-- account only when the provider vouches for the email address (email_verified).

CREATE TABLE oauth_identities (
    provider   text NOT NULL CONSTRAINT oauth_identities_provider_format CHECK (provider ~ '^[a-z0-9_-]{1,32}$'),
    subject    text NOT NULL CONSTRAINT oauth_identities_subject_length CHECK (char_length(subject) BETWEEN 1 AND 255),
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email      text NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject),
    -- One account per provider per user: a second GitHub login cannot attach silently.
    CONSTRAINT oauth_identities_one_per_provider UNIQUE (user_id, provider)
);
