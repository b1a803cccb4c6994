"""Notifications: grouped in-app notices made from domain events, their rules and use cases."""
