"""What a profile may contain: pure validation, no I/O."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from fowergram.domain.errors import BadUserInput
from fowergram.domain.social.profile_update import (
    KEEP,
    MAX_BIO,
    MAX_FULL_NAME,
    ProfileEdit,
    clean_website,
    validate,
)


def test_only_given_fields_change_and_text_is_normalised() -> None:
    changes = validate(ProfileEdit(full_name="  Zoe\u0301 Q  ", bio="line one\nline two"))

    assert changes.fields == {"full_name": "Zoé Q", "bio": "line one\nline two"}
    assert validate(ProfileEdit()).fields == {}
    assert validate(ProfileEdit(website=None, is_private=True)).fields == {
        "website": None,
        "is_private": True,
    }
    # Whatever the type says, the sentinel itself never leaks into the changes.
    fields: Mapping[str, object] = validate(ProfileEdit(bio="x")).fields
    assert KEEP not in fields.values()


def test_lengths_count_characters_after_normalisation() -> None:
    assert validate(ProfileEdit(bio="é" * MAX_BIO)).fields["bio"] == "é" * MAX_BIO
    assert validate(ProfileEdit(bio="e\u0301" * MAX_BIO)).fields["bio"] == "é" * MAX_BIO
    with pytest.raises(BadUserInput) as too_long:
        validate(ProfileEdit(bio="b" * (MAX_BIO + 1)))
    assert too_long.value.field == "bio"
    with pytest.raises(BadUserInput) as name:
        validate(ProfileEdit(full_name="n" * (MAX_FULL_NAME + 1)))
    assert name.value.field == "fullName"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("fullName", "evil\u202etxt.exe"),  # right-to-left override
        ("fullName", "zero\u200bwidth"),
        ("fullName", "two\nlines"),
        ("bio", "bell\x07"),
        ("bio", "nul\x00byte"),
        ("bio", "carriage\rreturn"),
        ("bio", "private\ue000use"),
        ("bio", "unassigned\U000e0000"),
        ("bio", "lone \ud800 surrogate"),
        ("bio", "Z\u0300\u0301\u0302\u0303\u0304algo"),
        ("bio", "line\u2028separator"),
    ],
)
def test_hostile_characters_are_refused_with_the_field(field: str, value: str) -> None:
    edit = ProfileEdit(full_name=value) if field == "fullName" else ProfileEdit(bio=value)
    with pytest.raises(BadUserInput) as refused:
        validate(edit)
    assert refused.value.field == field


def test_emoji_sequences_and_scripts_are_welcome() -> None:
    text = "👨‍👩‍👧 🏴󠁧󠁢󠁳󠁣󠁴󠁿 Tiếng Việt 日本語 عربي"
    assert validate(ProfileEdit(bio=text)).fields["bio"] == text


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "http://blog.example.co.uk/path?q=1#top",
        "https://münchen.de/",
        "https://example.com:8443/x",
    ],
)
def test_websites_accepted(url: str) -> None:
    assert clean_website(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "ftp://example.com",
        "example.com",
        "https://",
        "https://localhost",
        "https://user:pass@example.com",
        "https://google.com@evil.example",
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://exa mple.com",
        "https://example.com:99999/",
        "https://-bad-.com",
        "https://example.com/\u202e",
        "https://" + "a" * 64 + ".com",
        "https://example.com/" + "p" * 2048,
    ],
)
def test_websites_refused(url: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        clean_website(url)
    assert refused.value.field == "website"


def test_an_empty_website_removes_it() -> None:
    assert clean_website("") is None
    assert clean_website("   ") is None
    assert clean_website(None) is None
