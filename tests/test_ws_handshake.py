"""The opening handshake's checks and answers (pure: bytes in, a decision out)."""

from __future__ import annotations

from http import HTTPStatus

import pytest

from fowergram.realtime.handshake import Refusal, Upgrade, accepted, read_upgrade, refused

# RFC 6455 1.3's example key and its accept value.
KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

GOOD_HEADERS = {
    "host": "127.0.0.1:8000",
    "upgrade": "websocket",
    "connection": "Upgrade",
    "sec-websocket-key": KEY,
    "sec-websocket-version": "13",
}


def request(
    headers: dict[str, str] | list[tuple[str, str]] = GOOD_HEADERS,
    *,
    line: str = "GET /graphql HTTP/1.1",
    rest: bytes = b"",
) -> bytes:
    """A request as a client sends it (through the front door) or uvicorn rebuilds it."""
    pairs = headers.items() if isinstance(headers, dict) else headers
    head = "".join(f"{name}: {value}\r\n" for name, value in pairs)
    return f"{line}\r\n{head}\r\n".encode("latin-1") + rest


def without(name: str) -> dict[str, str]:
    return {key: value for key, value in GOOD_HEADERS.items() if key != name}


def upgrade_of(data: bytes) -> Upgrade:
    upgrade = read_upgrade(data)
    assert isinstance(upgrade, Upgrade), upgrade
    return upgrade


def refusal_of(data: bytes) -> Refusal:
    refusal = read_upgrade(data)
    assert isinstance(refusal, Refusal), refusal
    return refusal


def test_a_valid_request_gives_what_the_server_decides_and_answers_with() -> None:
    upgrade = upgrade_of(
        request(
            GOOD_HEADERS
            | {
                "origin": "https://app.example",
                "sec-websocket-protocol": "graphql-ws, graphql-transport-ws",
            },
            line="GET /graphql?x=1 HTTP/1.1",
        )
    )
    assert upgrade == Upgrade(
        path="/graphql",
        host="127.0.0.1:8000",
        origin="https://app.example",
        subprotocols=("graphql-ws", "graphql-transport-ws"),
        accept=ACCEPT,
        rest=b"",
    )


def test_header_names_and_tokens_are_case_insensitive_and_lists_are_read_whole() -> None:
    headers = [
        ("Host", "h"),
        ("UPGRADE", "WebSocket"),
        ("Connection", "keep-alive"),
        ("connection", " Upgrade "),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "a,  b"),
        ("sec-websocket-protocol", "c"),
    ]
    upgrade = upgrade_of(request(headers))
    assert upgrade.accept == ACCEPT
    assert upgrade.subprotocols == ("a", "b", "c")
    assert upgrade.origin is None


def test_bytes_after_the_request_are_kept_for_the_frame_parser() -> None:
    frame = b"\x81\x85\x00\x00\x00\x00hello"
    assert upgrade_of(request(rest=frame)).rest == frame


@pytest.mark.parametrize(
    ("data", "status", "header"),
    [
        (request(line="POST /graphql HTTP/1.1"), HTTPStatus.METHOD_NOT_ALLOWED, ("Allow", "GET")),
        (request(line="GET /graphql HTTP/1.0"), HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, None),
        (request(line="GET"), HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, None),
        (request(without("connection")), HTTPStatus.UPGRADE_REQUIRED, ("Upgrade", "websocket")),
        (
            request(GOOD_HEADERS | {"connection": "keep-alive"}),
            HTTPStatus.UPGRADE_REQUIRED,
            ("Upgrade", "websocket"),
        ),
        (
            request(GOOD_HEADERS | {"upgrade": "websocket, h2c"}),
            HTTPStatus.UPGRADE_REQUIRED,
            ("Upgrade", "websocket"),
        ),
        (request(without("upgrade")), HTTPStatus.UPGRADE_REQUIRED, ("Upgrade", "websocket")),
        (request(without("sec-websocket-key")), HTTPStatus.BAD_REQUEST, None),
        (request(GOOD_HEADERS | {"sec-websocket-key": "c2hvcnQ="}), HTTPStatus.BAD_REQUEST, None),
        (
            request(GOOD_HEADERS | {"sec-websocket-key": "not base64 at all!!!!!!="}),
            HTTPStatus.BAD_REQUEST,
            None,
        ),
        (
            request([*GOOD_HEADERS.items(), ("sec-websocket-key", KEY)]),
            HTTPStatus.BAD_REQUEST,
            None,
        ),
        (
            request(GOOD_HEADERS | {"sec-websocket-version": "8"}),
            HTTPStatus.UPGRADE_REQUIRED,
            ("Sec-WebSocket-Version", "13"),
        ),
        (
            request(without("sec-websocket-version")),
            HTTPStatus.UPGRADE_REQUIRED,
            ("Sec-WebSocket-Version", "13"),
        ),
        (request()[:-2], HTTPStatus.BAD_REQUEST, None),  # no end of headers
        (request().replace(b"upgrade: ", b"upgrade "), HTTPStatus.BAD_REQUEST, None),
        (request([*GOOD_HEADERS.items(), ("x name", "v")]), HTTPStatus.BAD_REQUEST, None),
        (request([*GOOD_HEADERS.items(), ("x-name ", "v")]), HTTPStatus.BAD_REQUEST, None),
    ],
    ids=[
        "post",
        "http-1.0",
        "no-target",
        "no-connection",
        "connection-without-upgrade",
        "two-upgrade-protocols",
        "no-upgrade",
        "no-key",
        "short-key",
        "key-not-base64",
        "two-keys",
        "version-8",
        "no-version",
        "incomplete",
        "header-without-colon",
        "space-in-name",
        "space-before-colon",
    ],
)
def test_invalid_requests_are_refused_with_the_rfc_status(
    data: bytes, status: HTTPStatus, header: tuple[str, str] | None
) -> None:
    refusal = refusal_of(data)
    assert refusal.status == status
    if header is not None:
        assert header in refusal.headers


def test_hostile_octets_in_values_are_carried_not_decoded_into_trouble() -> None:
    data = request(GOOD_HEADERS).replace(
        b"host: 127.0.0.1:8000", b"host: h\xff\xfe\x00\xe2\x80\xae"
    )
    upgrade = upgrade_of(data)
    assert upgrade.host == "h\xff\xfe\x00\xe2\x80\xae"


def test_the_101_answer_carries_the_accept_value_and_the_chosen_subprotocol() -> None:
    upgrade = upgrade_of(request())
    answer = accepted(upgrade, "graphql-transport-ws")
    assert answer.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert answer.endswith(b"\r\n\r\n")
    lines = answer.split(b"\r\n")
    assert b"Sec-WebSocket-Accept: " + ACCEPT.encode() in lines
    assert b"Sec-WebSocket-Protocol: graphql-transport-ws" in lines
    assert b"Upgrade: websocket" in lines
    assert b"Connection: Upgrade" in lines
    assert b"Sec-WebSocket-Protocol" not in accepted(upgrade, None)


def test_a_refusal_is_a_short_text_with_its_length_and_closes_the_connection() -> None:
    answer = refused(
        Refusal(
            HTTPStatus.UPGRADE_REQUIRED, "Upgrade: websocket expected", (("Upgrade", "websocket"),)
        )
    )
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 426 Upgrade Required"
    assert b"Connection: close" in lines
    assert b"Upgrade: websocket" in lines
    assert f"Content-Length: {len(body)}".encode() in lines
    assert body == b"Failed to open a WebSocket connection: Upgrade: websocket expected.\n"
