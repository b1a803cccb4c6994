"""Live subscriptions served by the connection hub, one module each."""
