"""A person's browser at the OpenID provider, played by httpx: follow the authorization
URL, fill in the login and consent forms, stop at the redirect back to us."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and self.action is None and attributes.get("method") == "post":
            self.action, self._in_form = attributes.get("action", ""), True
        elif tag == "input" and self._in_form and "name" in attributes:
            self.fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


async def sign_in_at_provider(url: str, *, login: str, redirect_uri: str) -> dict[str, str]:
    """From the authorization URL to the callback; return the callback's query."""
    async with httpx.AsyncClient(timeout=10) as browser:  # its own cookie jar: a fresh session
        response = await browser.get(url)
        for _ in range(12):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(redirect_uri):
                    return dict(parse_qsl(urlsplit(location).query))
                response = await browser.get(location)
            elif response.status_code == 200:
                form = _FormParser()
                form.feed(response.text)
                assert form.action is not None, response.text[:2000]
                fields = form.fields
                if fields.get("prompt") == "login":
                    fields |= {"login": login, "password": "anything"}
                response = await browser.post(urljoin(str(response.url), form.action), data=fields)
            else:
                raise AssertionError(f"HTTP {response.status_code}: {response.text[:2000]}")
    raise AssertionError("the provider never redirected to the callback")
