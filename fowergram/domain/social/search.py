"""Finding people and hashtags by name: query rules and the visibility of results.

Results are a ranked top-N, not a paginated list (like Instagram's search box): `first`
is how many to return, 1 to 50. The ranking itself is the store's (it runs in SQL).
Private accounts are findable (their content stays private); deleted accounts and anyone
on either side of a block with the viewer are not.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from fowergram.domain.errors import BadUserInput
from fowergram.domain.social.ports import Relationships
from fowergram.domain.social.profiles import Profile
from fowergram.domain.social.relationship import NONE, can_see_profile

MAX_QUERY_LENGTH = 64
DEFAULT_FIRST = 10
MAX_FIRST = 50
# Candidates fetched beyond `first`, so people hidden by blocks rarely shorten the list.
BLOCK_SLACK = 10


@dataclass(frozen=True, slots=True)
class Hashtag:
    id: int
    tag: str  # display form, without '#'


def normalise_query(raw: str, *, sigil: str) -> str:
    """The query as the store compares it: NFKC, lower case, trimmed, without a leading
    `sigil` ('@' for people, '#' for hashtags). BAD_USER_INPUT (field `query`) if empty,
    longer than MAX_QUERY_LENGTH or holding control characters."""
    if any(unicodedata.category(char) in ("Cc", "Cs") for char in raw):
        raise BadUserInput("query must not contain control characters", field="query")
    query = unicodedata.normalize("NFKC", raw).lower().strip().removeprefix(sigil).strip()
    if not query:
        raise BadUserInput("query must not be empty", field="query")
    if len(query) > MAX_QUERY_LENGTH:
        raise BadUserInput(f"query must be at most {MAX_QUERY_LENGTH} characters", field="query")
    return query


def result_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_FIRST
    if not 1 <= first <= MAX_FIRST:
        raise BadUserInput(f"first must be between 1 and {MAX_FIRST}", field="first")
    return first


class SearchStore(Protocol):
    async def search_users(self, query: str, limit: int) -> Sequence[Profile]:
        """Best matches first among accounts not deleted; `query` is normalised."""
        ...

    async def search_hashtags(self, query: str, limit: int) -> Sequence[Hashtag]: ...


class SearchService:
    def __init__(self, *, store: SearchStore, relationships: Relationships) -> None:
        self._store = store
        self._relationships = relationships

    async def users(self, viewer_id: int | None, query: str, first: int | None) -> list[Profile]:
        size = result_size(first)
        text = normalise_query(query, sigil="@")
        candidates = await self._store.search_users(text, size + BLOCK_SLACK)
        relations = (
            await self._relationships.between(viewer_id, [p.id for p in candidates])
            if viewer_id
            else {}
        )
        visible = [
            profile
            for profile in candidates
            if can_see_profile(viewer_id, profile.owner, relations.get(profile.id, NONE))
        ]
        return visible[:size]

    async def hashtags(self, query: str, first: int | None) -> list[Hashtag]:
        size = result_size(first)
        return list(await self._store.search_hashtags(normalise_query(query, sigil="#"), size))
