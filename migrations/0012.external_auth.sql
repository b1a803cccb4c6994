-- depends: 0011.auth_tokens
-- Accounts whose credentials live with an external identity service (SuperTokens, when
-- SUPERTOKENS_CONNECTION_URI is set): that service's user id (the subject) for our user.
-- Username, role and profile stay in users. Social sign-in has its own table
-- (oauth_identities, 0013).

CREATE TABLE external_auth_users (
    provider   text NOT NULL CONSTRAINT external_auth_users_provider_format CHECK (provider ~ '^[a-z0-9_-]{1,32}$'),
    subject    text NOT NULL CONSTRAINT external_auth_users_subject_length CHECK (char_length(subject) BETWEEN 1 AND 255),
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject),
    -- One subject per provider per user; also the index for looking a user's subject up.
    CONSTRAINT external_auth_users_one_per_provider UNIQUE (user_id, provider)
);
