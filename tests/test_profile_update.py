"""updateProfile and me.profile over GraphQL, with bad input that changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from support.graph_helpers import act, counts, events, fails, join, ok
from support.live_server import LiveServer

UPDATE = (
    "mutation($in: UpdateProfileInput!) { updateProfile(input: $in) "
    "{ id fullName bio website isPrivate followersCount } }"
)
ME = "{ me { username profile { id username fullName bio website isPrivate } } }"


@pytest.fixture
def client(live_server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.http_url, timeout=10) as http:
        yield http


def test_update_profile_and_read_it_back_through_me(
    client: httpx.Client, migrated_database: str
) -> None:
    ana = join(client)
    edit = {
        "fullName": " Ana Silva ",
        "bio": "photos\nand words 🌿",
        "website": "https://ana.example.com/",
    }

    updated = ok(client, ana, UPDATE, **{"in": edit})["updateProfile"]
    partial = ok(client, ana, UPDATE, **{"in": {"bio": "only the bio"}})["updateProfile"]
    cleared = ok(client, ana, UPDATE, **{"in": {"website": None}})["updateProfile"]

    assert updated["fullName"] == "Ana Silva"
    assert updated["bio"] == "photos\nand words 🌿"
    assert partial["fullName"] == "Ana Silva"
    assert partial["website"] == "https://ana.example.com/"
    assert cleared["website"] is None
    assert ok(client, ana, ME)["me"] == {
        "username": ana.username,
        "profile": {
            "id": ana.id,
            "username": ana.username,
            "fullName": "Ana Silva",
            "bio": "only the bio",
            "website": None,
            "isPrivate": False,
        },
    }
    recorded = [(kind, payload["fields"]) for kind, _, payload in events(migrated_database, ana.id)]
    assert recorded == [
        ("user.profile_updated", ["bio", "full_name", "website"]),
        ("user.profile_updated", ["bio"]),
        ("user.profile_updated", ["website"]),
    ]


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        ({"bio": "b" * 151}, "bio"),
        ({"fullName": "n" * 65}, "fullName"),
        ({"fullName": "evil\u202etxt"}, "fullName"),
        ({"bio": "nul\x00"}, "bio"),
        ({"website": "javascript:alert(1)"}, "website"),
        ({"website": "https://example.com/'; DROP TABLE users; --"}, "website"),
        ({"website": "https://" + "a" * 2048 + ".com"}, "website"),
        ({"fullName": "ok", "website": "not a url"}, "website"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_changes_nothing(
    client: httpx.Client, edit: dict[str, Any], field: str
) -> None:
    person = join(client)

    error = fails(client, person, UPDATE, **{"in": edit})

    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
    profile = ok(client, person, ME)["me"]["profile"]
    assert (profile["fullName"], profile["bio"], profile["website"]) == ("", "", None)


def test_wrong_types_and_signed_out(client: httpx.Client) -> None:
    person = join(client)
    wrong = fails(client, person, UPDATE, **{"in": {"isPrivate": "yes"}})
    unknown_field = fails(client, person, UPDATE, **{"in": {"avatar": "x"}})
    signed_out = fails(client, None, UPDATE, **{"in": {"bio": "x"}})

    assert wrong["extensions"]["code"] == "BAD_USER_INPUT"
    assert unknown_field["extensions"]["code"] == "BAD_USER_INPUT"
    assert signed_out["extensions"]["code"] == "UNAUTHENTICATED"
    assert fails(client, None, ME)["extensions"]["code"] == "UNAUTHENTICATED"


def test_going_private_then_public_accepts_waiting_requests(
    client: httpx.Client, migrated_database: str
) -> None:
    owner, fan = join(client), join(client)
    assert ok(client, owner, UPDATE, **{"in": {"isPrivate": True}})["updateProfile"]["isPrivate"]
    assert act(client, fan, "follow", owner.id)["requested"] is True

    public = ok(client, owner, UPDATE, **{"in": {"isPrivate": False}})["updateProfile"]

    assert public["isPrivate"] is False
    assert public["followersCount"] == 1
    assert act(client, fan, "follow", owner.id)["following"] is True
    assert counts(migrated_database, owner.id)[0] == counts(migrated_database, owner.id)[2] == 1
    assert counts(migrated_database, fan.id)[1] == counts(migrated_database, fan.id)[3] == 1
    assert [kind for kind, _, _ in events(migrated_database, owner.id)] == [
        "user.profile_updated",  # private
        "user.profile_updated",  # public, and with it the waiting request accepted
        "follow.accepted",
    ]
