"""JSON log lines carry the request and connection ids and any structured extras."""

from __future__ import annotations

import logging

import orjson

from fowergram.observability.logs import JsonFormatter, connection_id_var, request_id_var


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("fowergram.test", logging.INFO, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_line_is_json_with_ids_and_extras() -> None:
    request_token = request_id_var.set("req-1")
    connection_token = connection_id_var.set("conn-9")
    try:
        line = JsonFormatter().format(_record("hello \u202e", route="/graphql", status=200))
    finally:
        request_id_var.reset(request_token)
        connection_id_var.reset(connection_token)
    entry = orjson.loads(line)
    assert entry["msg"] == "hello \u202e"
    assert entry["level"] == "info"
    assert entry["request_id"] == "req-1"
    assert entry["connection_id"] == "conn-9"
    assert (entry["route"], entry["status"]) == ("/graphql", 200)
    assert "\n" not in line


def test_exceptions_are_included_on_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = _record("failed")
        record.exc_info = sys.exc_info()
    entry = orjson.loads(JsonFormatter().format(record))
    assert "ValueError: boom" in entry["exc"]
    assert "request_id" not in entry
