"""Embedded PostgreSQL, Redis and NATS (JetStream) from their pip wheels, for `fowergram dev`
and the tests: nothing else to install."""
