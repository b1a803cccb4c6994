"""The embedded stack: whichever of PostgreSQL, Redis and NATS the settings leave unconfigured."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from fowergram.config import Settings
from fowergram.embedded.nats import EmbeddedNats
from fowergram.embedded.postgres import EmbeddedPostgres
from fowergram.embedded.process import free_port
from fowergram.embedded.redis import EmbeddedRedis

log = logging.getLogger(__name__)


class _Service(Protocol):
    def launch(self) -> None: ...
    def wait_ready(self) -> str: ...
    def stop(self) -> None: ...


@dataclass
class EmbeddedStack:
    data_dir: Path
    postgres_port: int | None = None  # None: configured elsewhere, do not start
    redis_port: int | None = None
    nats_port: int | None = None
    durable: bool = True
    urls: dict[str, str] = field(default_factory=dict)
    _running: list[_Service] = field(default_factory=list)

    @classmethod
    def for_settings(cls, settings: Settings) -> EmbeddedStack:
        def port(configured_url: str | None, wanted: int) -> int | None:
            if configured_url is not None:
                return None
            return wanted or free_port()

        return cls(
            data_dir=settings.data_dir,
            postgres_port=port(settings.database_url, settings.embedded_postgres_port),
            redis_port=port(settings.redis_url, settings.embedded_redis_port),
            nats_port=port(settings.nats_url, settings.embedded_nats_port),
        )

    def start(self) -> dict[str, str]:
        """Start the services side by side; return their URLs keyed by setting name.

        All are spawned from this thread (a child's parent-death signal follows the thread
        that spawned it), then waited for. If one fails, the others are stopped and its
        `EmbeddedServiceError` propagates.
        """
        services: list[tuple[str, _Service]] = []
        if self.postgres_port is not None:
            services.append(
                (
                    "database_url",
                    EmbeddedPostgres(self.data_dir, self.postgres_port, durable=self.durable),
                )
            )
        if self.redis_port is not None:
            services.append(("redis_url", EmbeddedRedis(self.data_dir, self.redis_port)))
        if self.nats_port is not None:
            services.append(("nats_url", EmbeddedNats(self.data_dir, self.nats_port)))
        try:
            for _, service in services:
                self._running.append(service)
                service.launch()
            self.urls = {name: service.wait_ready() for name, service in services}
        except BaseException:
            self.stop()
            raise
        for name, url in self.urls.items():
            log.info("embedded service ready", extra={"setting": name.upper(), "url": url})
        return self.urls

    def stop(self) -> None:
        running, self._running = self._running, []
        for service in reversed(running):
            service.stop()

    def __enter__(self) -> dict[str, str]:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
