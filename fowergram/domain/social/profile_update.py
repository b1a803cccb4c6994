"""Editing one's own profile: what a full name, a bio and a website may contain.

Text is NFC-normalised, then refused (BAD_USER_INPUT with the field) if it carries control
characters (a newline is allowed in the bio only), invisible or direction-changing format
characters (bidi overrides, zero-width spaces; the zero-width joiner of emoji sequences
stays), surrogates, private-use or unassigned code points, or "Zalgo" runs of combining
marks. Lengths count code points after normalisation, as PostgreSQL's char_length does.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Protocol
from urllib.parse import urlsplit

from fowergram.domain.auth.viewer import Viewer
from fowergram.domain.errors import BadUserInput, NotFound
from fowergram.domain.events import DomainEvent
from fowergram.domain.social.profiles import Profile

MAX_FULL_NAME = 64
MAX_BIO = 150
MAX_WEBSITE = 2048
MAX_COMBINING_RUN = 4  # enough for stacked diacritics; more is Zalgo text

_ALLOWED_FORMAT = {"\u200d"}  # zero-width joiner: emoji sequences
_EMOJI_TAGS = range(0xE0020, 0xE0080)  # subdivision flags
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class Keep(Enum):
    """A field the edit leaves as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ProfileEdit:
    full_name: str | Keep = KEEP
    bio: str | Keep = KEEP
    website: str | Keep | None = KEEP  # None (or "") removes it
    is_private: bool | Keep = KEEP
    show_activity_status: bool | Keep = KEEP


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A validated edit: only the fields to change."""

    fields: dict[str, str | bool | None]


class ProfileWriter(Protocol):
    async def update(
        self, user_id: int, changes: ProfileChanges, event: DomainEvent
    ) -> Profile | None:
        """Apply `changes` and record `event` in one transaction (None: no such user). Going
        public accepts the pending follow requests, with their counters and events."""
        ...


def clean_text(value: str, *, field: str, max_length: int, multiline: bool = False) -> str:
    text = unicodedata.normalize("NFC", value).strip()
    combining = 0
    for char in text:
        if char == "\n" and multiline:
            combining = 0
            continue
        category = unicodedata.category(char)
        if category in _REFUSED_CATEGORIES and not (
            char in _ALLOWED_FORMAT or ord(char) in _EMOJI_TAGS
        ):
            raise BadUserInput(f"{field} contains a character that is not allowed", field=field)
        combining = combining + 1 if category in {"Mn", "Me"} else 0
        if combining > MAX_COMBINING_RUN:
            raise BadUserInput(f"{field} stacks too many combining marks", field=field)
    if len(text) > max_length:
        raise BadUserInput(f"{field} has at most {max_length} characters", field=field)
    return text


def clean_website(value: str | None) -> str | None:
    """An absolute http(s) URL with a proper host name and no credentials, or None."""
    if value is None or not value.strip():
        return None
    url = clean_text(value, field="website", max_length=MAX_WEBSITE)
    bad = BadUserInput(
        "website must be an http(s) URL such as https://example.com", field="website"
    )
    if any(char.isspace() for char in url):
        raise bad
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError when malformed
        host = (parts.hostname or "").rstrip(".")
        ascii_host = host.encode("idna").decode("ascii").lower()
    except (ValueError, UnicodeError):
        raise bad from None
    labels = ascii_host.split(".")
    if (
        parts.scheme.lower() not in {"http", "https"}
        or parts.username is not None
        or parts.password is not None
        or port == 0
        or len(labels) < 2
        or not all(_HOST_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()  # IP addresses are not websites of people
    ):
        raise bad
    return url


def validate(edit: ProfileEdit) -> ProfileChanges:
    fields: dict[str, str | bool | None] = {}
    if not isinstance(edit.full_name, Keep):
        fields["full_name"] = clean_text(edit.full_name, field="fullName", max_length=MAX_FULL_NAME)
    if not isinstance(edit.bio, Keep):
        fields["bio"] = clean_text(edit.bio, field="bio", max_length=MAX_BIO, multiline=True)
    if not isinstance(edit.website, Keep):
        fields["website"] = clean_website(edit.website)
    if not isinstance(edit.is_private, Keep):
        fields["is_private"] = edit.is_private
    if not isinstance(edit.show_activity_status, Keep):
        fields["show_activity_status"] = edit.show_activity_status
    return ProfileChanges(fields)


class ProfileEditor:
    def __init__(self, *, writer: ProfileWriter) -> None:
        self._writer = writer

    async def update(self, viewer: Viewer, edit: ProfileEdit) -> Profile:
        changes = validate(edit)
        event = DomainEvent(
            "user.profile_updated",
            viewer.user_id,
            {"actorId": viewer.user_id, "fields": sorted(changes.fields)},
        )
        profile = await self._writer.update(viewer.user_id, changes, event)
        if profile is None:
            raise NotFound("no such user")
        return profile
