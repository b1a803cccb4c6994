"""Pure Python: entities, services (use cases), ports, events and errors. No I/O imports."""
