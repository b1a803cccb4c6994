-- The RS256 keys go with the constraint: their tokens stop verifying (their holders
-- refresh or sign in again, and an EdDSA key is made on the next signature).
DELETE FROM signing_keys WHERE algorithm <> 'EdDSA';
ALTER TABLE signing_keys DROP CONSTRAINT signing_keys_algorithm_valid;
ALTER TABLE signing_keys ADD CONSTRAINT signing_keys_algorithm_valid
    CHECK (algorithm IN ('EdDSA'));
