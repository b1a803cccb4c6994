"""What people type: emails and usernames normalised (NFKC, case), hostile input refused."""

from __future__ import annotations

import pytest

from fowergram.domain.auth.identity import (
    EMAIL_MAX,
    PASSWORD_MAX,
    PASSWORD_MIN,
    USERNAME_MAX,
    normalize_email,
    normalize_username,
    validate_password,
)
from fowergram.domain.errors import BadUserInput, ErrorCode


def _refused(field: str, check: object, raw: str) -> None:
    assert callable(check)
    with pytest.raises(BadUserInput) as refused:
        check(raw)
    assert refused.value.field == field
    assert refused.value.code is ErrorCode.BAD_USER_INPUT
    assert refused.value.message


# --- usernames -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ana", "ana"),
        ("ANA", "ana"),  # case folds
        ("Ana.Maria_99", "ana.maria_99"),
        ("ＡＮＡ", "ana"),  # fullwidth folds to ASCII (NFKC)
        ("ａｎａ．ｍａｒｉａ＿９９", "ana.maria_99"),
        ("𝐚𝐧𝐚", "ana"),  # mathematical bold letters
        ("\u212aate", "kate"),  # KELVIN SIGN
        ("ﬁnn", "finn"),  # the "fi" ligature
        ("  ana  ", "ana"),  # surrounding whitespace is trimmed
        ("\u00a0ana\u3000", "ana"),  # ... including no-break and ideographic spaces
        ("_ana_", "_ana_"),
        ("a.n.a", "a.n.a"),
        ("a" * USERNAME_MAX, "a" * USERNAME_MAX),
        ("Ａ" * USERNAME_MAX, "a" * USERNAME_MAX),  # the limit counts normalised characters
        ("admin_", "admin_"),  # only the exact reserved names are reserved
    ],
)
def test_username_is_normalised(raw: str, expected: str) -> None:
    assert normalize_username(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("a" * (USERNAME_MAX + 1), id="31-chars"),
        pytest.param("Ａ" * (USERNAME_MAX + 1), id="31-fullwidth-chars"),
        pytest.param(".ana", id="leading-dot"),
        pytest.param("ana.", id="trailing-dot"),
        pytest.param("an..a", id="double-dot"),
        pytest.param("．ana", id="fullwidth-leading-dot"),
        pytest.param("an a", id="inner-space"),
        pytest.param("ana-b", id="hyphen"),
        pytest.param("ana@b", id="at-sign"),
        pytest.param("ana\u200bb", id="zero-width-space"),
        pytest.param("ana\u200d", id="zero-width-joiner"),
        pytest.param("\u202eana", id="rtl-override"),
        pytest.param("an\u00ada", id="soft-hyphen"),
        pytest.param("ana\x00", id="nul"),
        pytest.param("ana\x1b[31m", id="escape-sequence"),
        pytest.param("an\na", id="newline"),
        pytest.param("аna", id="cyrillic-a-homoglyph"),
        pytest.param("ανα", id="greek"),
        pytest.param("ana\u0301", id="combining-accent"),
        pytest.param("ｅｓｔé", id="accented-letter"),
        pytest.param("robert'); drop table users;--", id="sql-statement"),
        pytest.param("' or 1=1 --", id="sql-tautology"),
        pytest.param("ana;select", id="semicolon"),
        pytest.param("%00ana", id="percent-encoding"),
        pytest.param("<script>", id="markup"),
    ],
)
def test_username_is_refused(raw: str) -> None:
    _refused("username", normalize_username, raw)


@pytest.mark.parametrize(
    "raw", ["admin", "ADMIN", "Root", "ＡＤＭＩＮ", " support ", "me", "null", "graphql", "auth"]
)
def test_reserved_usernames_are_refused_in_every_spelling(raw: str) -> None:
    with pytest.raises(BadUserInput) as refused:
        normalize_username(raw)
    assert refused.value.field == "username"
    assert "reserved" in refused.value.message


# --- emails ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ana@example.com", "ana@example.com"),
        ("  Ana@Example.COM ", "ana@example.com"),
        ("ａｎａ＠ｅｘａｍｐｌｅ．ｃｏｍ", "ana@example.com"),  # fullwidth, including '@' and '.'
        ("ana+tag@mail.example.org", "ana+tag@mail.example.org"),
        ("o'brien@example.ie", "o'brien@example.ie"),  # legal, and harmless: SQL is parameterised
    ],
)
def test_email_is_normalised(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


def _email_of_length(length: int) -> str:
    local = "a" * 64
    domain_label = "b" * (length - len(local) - len("@") - len(".com"))
    email = f"{local}@{domain_label}.com"
    assert len(email) == length
    return email


def test_email_length_limit() -> None:
    assert normalize_email(_email_of_length(EMAIL_MAX)) == _email_of_length(EMAIL_MAX)
    _refused("email", normalize_email, _email_of_length(EMAIL_MAX + 1))
    _refused("email", normalize_email, "a" * 65 + "@example.com")  # local part over 64


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("", id="empty"),
        pytest.param("ana", id="no-at"),
        pytest.param("ana@example", id="no-tld"),
        pytest.param("ana@localhost", id="bare-host"),
        pytest.param("ana@example.c", id="one-letter-tld"),
        pytest.param("@example.com", id="no-local-part"),
        pytest.param("ana@", id="no-domain"),
        pytest.param("ana@@example.com", id="double-at"),
        pytest.param("a@b@example.com", id="two-ats"),
        pytest.param("ana maria@example.com", id="space-in-local-part"),
        pytest.param("ana@exa mple.com", id="space-in-domain"),
        pytest.param("ana@example.com\nbcc:x@evil.com", id="header-injection"),
        pytest.param("ana\u200b@example.com", id="zero-width-space"),
        pytest.param("ana\u202e@example.com", id="rtl-override"),
        pytest.param("ana\x00@example.com", id="nul"),
        pytest.param("ana@example.com\x00", id="trailing-nul"),
        pytest.param("ana\x07@example.com", id="bell"),
        pytest.param("' or 1=1 --@example.com", id="sql-with-spaces"),
    ],
)
def test_email_is_refused(raw: str) -> None:
    _refused("email", normalize_email, raw)


# --- passwords -------------------------------------------------------------------------------


def test_password_length_bounds() -> None:
    _refused("password", validate_password, "x" * (PASSWORD_MIN - 1))
    assert validate_password("x" * PASSWORD_MIN) == "x" * PASSWORD_MIN
    assert validate_password("x" * PASSWORD_MAX) == "x" * PASSWORD_MAX
    _refused("password", validate_password, "x" * (PASSWORD_MAX + 1))
    assert (PASSWORD_MIN, PASSWORD_MAX) == (8, 256)


@pytest.mark.parametrize(
    "raw",
    [" " * 8, "\t" * 8, " \n \r \t  ", "\u3000" * 8, "\u00a0" * 10, " " * PASSWORD_MAX],
)
def test_whitespace_only_password_is_refused(raw: str) -> None:
    _refused("password", validate_password, raw)


@pytest.mark.parametrize(
    "raw",
    [
        "  spaces around  ",  # kept as typed: never trimmed or normalised
        "pässwörd",
        "ＦＵＬＬＷＩＤＴＨ",
        "emoji 🔑🔑🔑🔑",
        "'; DROP TABLE users; --",
        "abc\x00defgh",
    ],
)
def test_any_character_is_allowed_in_passwords(raw: str) -> None:
    assert validate_password(raw) == raw


def test_lone_surrogates_are_not_passwords() -> None:
    from fowergram.domain.auth.identity import validate_password
    from fowergram.domain.errors import BadUserInput

    with pytest.raises(BadUserInput) as refused:
        validate_password("\ud800 long enough here")
    assert refused.value.field == "password"
