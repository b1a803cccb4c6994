"""The WebSocket connection hub: sockets served at the transport (`ws_transport`, behind
`front_door`), graphql-transport-ws and graphql-ws, admission, per-user NATS channels,
shared subscriptions, presence, slow consumers and shutdown drain; and the event
pipeline (outbox relay, JetStream consumers)."""
