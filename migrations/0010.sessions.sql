-- depends: 0009.outbox
-- Sessions (one row per sign-in on a device), their refresh tokens, and the keys
-- that sign access tokens.

CREATE TABLE sessions (
    id             uuid PRIMARY KEY,
    user_id        bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz NOT NULL DEFAULT now(),
    -- Slides forward on every refresh; after it the session is over.
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz NULL,
    revoked_reason text NULL
        CONSTRAINT sessions_revoked_reason_valid CHECK (revoked_reason IN (
            'sign_out', 'sign_out_everywhere', 'revoked', 'refresh_reuse',
            'password_reset', 'banned')),
    user_agent     text NOT NULL DEFAULT ''
        CONSTRAINT sessions_user_agent_length CHECK (char_length(user_agent) <= 512),
    ip             inet NULL,
    CONSTRAINT sessions_revocation_consistent
        CHECK ((revoked_at IS NULL) = (revoked_reason IS NULL))
);

-- "My sessions" and "sign out everywhere".
CREATE INDEX sessions_user_active_idx ON sessions (user_id, last_seen_at DESC)
    WHERE revoked_at IS NULL;

-- Every refresh token ever issued for a session, by hash: the current one has no
-- replaced_at; presenting a replaced one again is how theft is detected.
CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY
        CONSTRAINT refresh_tokens_hash_length CHECK (octet_length(token_hash) = 32),
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    replaced_at timestamptz NULL
);

CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);

-- Asymmetric keys for access tokens. A key signs until signs_until, and stays in the
-- JWKS until verifies_until (its last tokens have expired), so rotating logs nobody out.
CREATE TABLE signing_keys (
    kid            text PRIMARY KEY,
    algorithm      text NOT NULL CONSTRAINT signing_keys_algorithm_valid CHECK (algorithm IN ('EdDSA')),
    private_pem    text NOT NULL,
    public_jwk     jsonb NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    signs_until    timestamptz NOT NULL,
    verifies_until timestamptz NOT NULL,
    CONSTRAINT signing_keys_windows CHECK (created_at < signs_until AND signs_until < verifies_until)
);
