"""Authentication adapters: password hashing, access tokens, social sign-in (OAuth2 / OIDC)."""
