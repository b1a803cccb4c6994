-- depends: 0017.account_suspension
-- New access-token keys are RS256 (RSA verification is ~4x cheaper than Ed25519 on the
-- machines measured, and every socket's connection_init verifies one); EdDSA keys made
-- before keep verifying their tokens until their window closes.
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_algorithm_valid;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_algorithm_valid
    CHECK (algorithm IN ('EdDSA', 'RS256'));
