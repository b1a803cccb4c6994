"""Benchmarks and locust scenarios; each prints its figures."""
