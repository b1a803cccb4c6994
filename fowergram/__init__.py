"""Fowergram: a real-time, WebSocket-first social backend."""
