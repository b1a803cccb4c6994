"""`.env.example` documents every setting, and parses as valid configuration."""

from __future__ import annotations

import re
from pathlib import Path

from fowergram.config import Settings

ENV_EXAMPLE = Path(__file__).resolve().parents[1] / ".env.example"


def test_every_setting_is_documented() -> None:
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", ENV_EXAMPLE.read_text(), re.M))
    expected = {name.upper() for name in Settings.model_fields}
    assert expected - documented == set()
    assert documented - expected == set()


def test_the_example_is_valid_configuration() -> None:
    settings = Settings(_env_file=ENV_EXAMPLE)
    assert settings.environment == "development"
    assert settings.port == 8080
