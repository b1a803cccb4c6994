"""Where a subscription's resolver listens: the socket, or a stream shared by many."""

from __future__ import annotations

from strawberry.types import Info

from fowergram.domain.errors import BadUserInput
from fowergram.graphql.context import Context
from fowergram.realtime.live_source import LiveSource


def live_source(info: Info[Context, None]) -> LiveSource:
    if info.context.live is None:
        raise BadUserInput("subscriptions are served over WebSockets")
    return info.context.live
