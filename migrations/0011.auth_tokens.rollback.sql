DROP TABLE IF EXISTS mfa_recovery_codes;
DROP TABLE IF EXISTS mfa_totp;
DROP TABLE IF EXISTS auth_tokens;
