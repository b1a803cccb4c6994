"""The comment rules as pure functions: body cleaning, thread depth, who may delete."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fowergram.domain.errors import BadUserInput
from fowergram.domain.social.comments import (
    BODY_MAX,
    Comment,
    clean_body,
    may_delete,
    thread_parent,
)

POST, POST_AUTHOR, COMMENTER = 10, 1, 2


def _comment(id: int, parent_id: int | None = None, *, post_id: int = POST) -> Comment:
    return Comment(
        id=id,
        post_id=post_id,
        post_author_id=POST_AUTHOR,
        author_id=COMMENTER,
        parent_id=parent_id,
        body="hi",
        like_count=0,
        reply_count=0,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
    )


def test_bodies_are_normalised_and_stripped() -> None:
    assert clean_body("  cafe\u0301 \n") == "caf\u00e9"
    kept = "Family \U0001f468\u200d\U0001f469\u200d\U0001f467\nline two\ttab"
    assert clean_body(kept) == kept
    # Length counts after NFC: 2,200 decomposed é are 2,200 characters, not 4,400.
    assert len(clean_body("e\u0301" * BODY_MAX)) == BODY_MAX


@pytest.mark.parametrize(
    "body",
    ["", "   \n\t ", "x" * (BODY_MAX + 1), "bidi \u202e override", "nul \x00", "bell \x07"],
)
def test_bad_bodies_are_bad_input_on_body(body: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        clean_body(body)
    assert refused.value.field == "body"
    assert "caption" not in refused.value.message


def test_control_characters_are_named_in_the_message() -> None:
    with pytest.raises(BadUserInput, match="U\\+202E"):
        clean_body("a\u202eb")


def test_replies_are_one_level_deep() -> None:
    top = _comment(5)
    reply = _comment(6, parent_id=5)
    assert thread_parent(top, POST) == 5
    assert thread_parent(reply, POST) == 5  # a reply to a reply joins the top-level thread


def test_a_parent_on_another_post_is_bad_input() -> None:
    with pytest.raises(BadUserInput) as refused:
        thread_parent(_comment(5, post_id=POST + 1), POST)
    assert refused.value.field == "parentId"


def test_the_author_and_the_post_owner_may_delete() -> None:
    comment = _comment(5)
    assert may_delete(COMMENTER, comment)
    assert may_delete(POST_AUTHOR, comment)
    assert not may_delete(99, comment)
