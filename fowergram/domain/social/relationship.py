"""How two people stand to each other, and what that lets one see of the other.

Pure functions of state (STYLE 5): the adapters load a Relationship, these decide.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Relationship:
    """From the viewer's side, like Mastodon's Relationship entity."""

    following: bool = False
    followed_by: bool = False
    requested: bool = False  # the viewer asked to follow a private account
    requested_by: bool = False  # the other person asked to follow the viewer
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False


NONE = Relationship()


@dataclass(frozen=True, slots=True)
class Owner:
    """What visibility needs to know about the owner of a profile or content."""

    user_id: int
    is_private: bool
    deleted: bool = False


def can_see_profile(viewer_id: int | None, owner: Owner, rel: Relationship) -> bool:
    """Blocks hide both sides from each other everywhere; deleted accounts are gone."""
    if owner.deleted:
        return False
    if viewer_id == owner.user_id:
        return True
    return not (rel.blocking or rel.blocked_by)


def can_see_content(viewer_id: int | None, owner: Owner, rel: Relationship) -> bool:
    """Posts, comments and lists of a private account: its approved followers only."""
    if not can_see_profile(viewer_id, owner, rel):
        return False
    if viewer_id == owner.user_id or not owner.is_private:
        return True
    return rel.following


def can_interact(viewer_id: int | None, owner: Owner, rel: Relationship) -> bool:
    """Like, comment, save: whoever may see the content, signed in."""
    return viewer_id is not None and can_see_content(viewer_id, owner, rel)
