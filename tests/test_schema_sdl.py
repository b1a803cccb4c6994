"""schema.graphql, the checked-in contract, is the schema the server serves."""

from __future__ import annotations

from pathlib import Path

from fowergram.graphql.schema import schema_sdl

CHECKED_IN = Path(__file__).resolve().parents[1] / "schema.graphql"


def test_checked_in_sdl_is_current() -> None:
    assert CHECKED_IN.read_text(encoding="utf-8") == schema_sdl(), (
        "schema.graphql is stale: run `make schema` and commit it"
    )


def test_sdl_holds_the_main_operations() -> None:
    sdl = schema_sdl()
    for field in ("serverInfo", "signIn", "createPost", "likePost", "searchUsers", "user("):
        assert field in sdl
