"""Accounts, credentials and sessions: rules and use cases, no I/O."""
