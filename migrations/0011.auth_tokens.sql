-- depends: 0010.sessions
-- Single-use, expiring tokens mailed to users (email verification, password reset).
-- Only a hash is stored: a database leak does not hand out working links.

CREATE TABLE auth_tokens (
    token_hash bytea PRIMARY KEY
        CONSTRAINT auth_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL
        CONSTRAINT auth_tokens_purpose_valid CHECK (purpose IN ('verify_email', 'reset_password')),
    -- The address the link went to: verifying proves ownership of that address only.
    email      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz NULL,
    CONSTRAINT auth_tokens_expiry_after_creation CHECK (expires_at > created_at)
);

CREATE INDEX auth_tokens_user_open_idx ON auth_tokens (user_id, purpose) WHERE used_at IS NULL;

-- TOTP second factor (RFC 6238). last_used_step refuses a code's replay.
CREATE TABLE mfa_totp (
    user_id        bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    confirmed_at   timestamptz NULL,
    last_used_step bigint NULL
);

-- One-time recovery codes, stored hashed.
CREATE TABLE mfa_recovery_codes (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL
        CONSTRAINT mfa_recovery_codes_hash_length CHECK (octet_length(code_hash) = 32),
    used_at   timestamptz NULL,
    PRIMARY KEY (user_id, code_hash)
);
