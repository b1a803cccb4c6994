"""Implementations of the domain's ports: the only code that speaks SQL, Redis, NATS or S3."""
