"""The WebSocket connection hub: who is connected, per-user NATS channels, presence,
slow consumers and shutdown drain. Today the GraphQL WebSocket protocols are served by
the Strawberry view (`fowergram.graphql.app`) and sockets are observed by
`fowergram.http.observe`; the hub arrives with the realtime issue."""
