"""Reads every social use case needs: who owns what, and how people stand to each other."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fowergram.domain.social.relationship import Owner, Relationship


class Relationships(Protocol):
    async def between(self, viewer_id: int, others: Sequence[int]) -> dict[int, Relationship]:
        """The viewer's relationship to each of `others` (absent ids: no relationship)."""
        ...


class Standings(Protocol):
    async def standing(
        self, viewer_id: int | None, user_ids: Sequence[int]
    ) -> dict[int, tuple[Owner, Relationship]]:
        """Each user's privacy/deletion state and the viewer's relationship to them, in
        one read (what a visibility decision needs; unknown ids are left out)."""
        ...
