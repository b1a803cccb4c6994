"""How far the event pipeline kept up during a run: events the outbox relay published
and events each durable consumer settled, from the server's /metrics.

A write's HTTP response does not wait for its notification: a consumer that falls behind
leaves a growing backlog that no request latency shows, so the benchmark reports both.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

PUBLISHED = "fowergram_outbox_events_published"
SETTLED = "fowergram_consumer_events"


@dataclass(frozen=True)
class PipelineCounts:
    published: float  # events the relay published to the stream
    settled: dict[str, float]  # events each consumer acknowledged, dead-lettered or retried

    def rates(self, before: PipelineCounts, seconds: float) -> PipelineCounts:
        """Per second between `before` and now."""
        return PipelineCounts(
            (self.published - before.published) / seconds,
            {
                name: (count - before.settled.get(name, 0.0)) / seconds
                for name, count in self.settled.items()
            },
        )


def pipeline_counts(server_url: str) -> PipelineCounts:
    text = httpx.get(f"{server_url}/metrics", timeout=10).text
    published, settled = 0.0, dict[str, float]()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == f"{PUBLISHED}_total":
                published += sample.value
            elif sample.name == f"{SETTLED}_total":
                name = sample.labels["consumer"]
                settled[name] = settled.get(name, 0.0) + sample.value
    return PipelineCounts(published, settled)


def describe(rates: PipelineCounts) -> str:
    handled = ", ".join(f"{name} {rate:.0f}/s" for name, rate in sorted(rates.settled.items()))
    return f"published {rates.published:.0f}/s; settled by the consumers: {handled or 'none'}"
