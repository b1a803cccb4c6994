"""Configuration: defaults, and one clear line with exit status 2 for every bad value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fowergram.config import ConfigError, Settings, load_settings
from fowergram.realtime.hub_wiring import socket_options


def _clean_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")}
    env.pop("ENVIRONMENT", None)
    env.update(values)
    return env


def test_defaults_match_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "ENVIRONMENT", "APP_NAME", "APP_VERSION", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert (settings.app_name, settings.app_version) == ("fowergram-backend", "1.0.0")
    assert settings.environment == "development"
    assert settings.port == 8080
    assert settings.database_url is None
    assert not settings.services_configured


def test_connection_init_timeout_defaults_to_graphql_ws_3_s_and_reaches_socket_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("WS_CONNECTION_INIT_TIMEOUT_S", "ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.ws_connection_init_timeout_s == 3.0  # graphql-ws's own default
    assert socket_options(settings).init_timeout_s == 3.0
    # Taken from the setting, not from SocketOptions' own (equal) default.
    changed = Settings(_env_file=None, ws_connection_init_timeout_s=1.5)
    assert socket_options(changed).init_timeout_s == 1.5


def test_env_file_is_read(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("APP_NAME", raising=False)
    env_file = os.path.join(tmp_path, ".env")
    with open(env_file, "w") as handle:
        handle.write("APP_NAME=from-dotenv\nPORT=9001\n")
    settings = Settings(_env_file=env_file)
    assert (settings.app_name, settings.port) == ("from-dotenv", 9001)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"port": 70000}, "PORT"),
        ({"port": "eighty"}, "PORT"),
        ({"environment": "staging"}, "ENVIRONMENT"),
        ({"database_url": "mysql://db/x"}, "DATABASE_URL"),
        ({"database_url": "postgresql://:5432/x"}, "DATABASE_URL"),
        ({"redis_url": "redis://localhost:99999/0"}, "REDIS_URL"),
        ({"nats_url": "http://localhost:4222"}, "NATS_URL"),
        ({"minio_endpoint": "http://minio"}, "MINIO_ENDPOINT"),
        ({"supertokens_connection_uri": "ftp://x"}, "SUPERTOKENS_CONNECTION_URI"),
        ({"environment": "production"}, "DATABASE_URL, REDIS_URL, NATS_URL must be set"),
    ],
)
def test_bad_values_name_the_variable(overrides: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None, **overrides)
    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_credentials_in_a_bad_url_are_not_echoed() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(_env_file=None, database_url="mysql://admin:hunter2@db/x")
    assert "hunter2" not in str(raised.value)


def test_unix_socket_redis_url_is_accepted() -> None:
    settings = load_settings(_env_file=None, redis_url="unix:///run/redis/redis.sock?db=0")
    assert settings.redis_url == "unix:///run/redis/redis.sock?db=0"


def test_production_with_urls_is_accepted() -> None:
    settings = load_settings(
        _env_file=None,
        environment="production",
        database_url="postgresql://u@db:5432/fowergram",
        redis_url="redis://redis:6379/0",
        nats_url="nats://nats:4222",
    )
    assert settings.is_production
    assert settings.services_configured


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PORT", "99999"), ("ENVIRONMENT", "staging"), ("DATABASE_URL", "not a url")],
)
def test_cli_stops_with_one_line_and_status_2(variable: str, value: str, tmp_path: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fowergram.cli", "serve"],
        env=_clean_env(**{variable: value}),
        cwd=tmp_path,  # no .env here
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}")
    assert "Traceback" not in result.stderr


def test_cli_production_without_urls_refuses_to_start(tmp_path: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "fowergram.cli", "serve"],
        env=_clean_env(ENVIRONMENT="production"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL, REDIS_URL, NATS_URL must be set" in result.stderr
    assert "Traceback" not in result.stderr
