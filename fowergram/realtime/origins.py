"""Which browser pages may open a socket (cross-site WebSocket hijacking defence).

Browsers always send `Origin` on a WebSocket upgrade and cannot forge it; apps and
servers usually send none. A socket from a page of another site is refused unless that
origin is configured, since the browser would attach this site's cookies to it.
"""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit


def origin_allowed(origin: str | None, host: str | None, allowed: Collection[str]) -> bool:
    """`allowed` holds exact origins ("https://app.example"), or "*" for any."""
    if origin is None:
        return True  # not a browser page
    if "*" in allowed or origin in allowed:
        return True
    parts = urlsplit(origin)
    # Same origin: the page was served by this host (and port) itself.
    return bool(host) and parts.scheme in ("http", "https") and parts.netloc == host
