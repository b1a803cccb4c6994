"""Foundation scenario: a small GraphQL query and the health endpoints."""

from __future__ import annotations

from locust import FastHttpUser, constant, task

SERVER_INFO = {"query": "query ServerInfo { serverInfo { name version environment time } }"}


class ApiClient(FastHttpUser):
    wait_time = constant(0)

    @task(8)
    def server_info(self) -> None:
        with self.client.post(
            "/graphql", json=SERVER_INFO, name="graphql serverInfo", catch_response=True
        ) as response:
            if response.status_code != 200 or b'"errors"' in (response.content or b""):
                response.failure(f"status {response.status_code}")

    @task(1)
    def liveness(self) -> None:
        self.client.get("/health", name="/health")

    @task(1)
    def readiness(self) -> None:
        self.client.get("/health/ready", name="/health/ready")
