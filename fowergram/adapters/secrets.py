"""Unguessable tokens and session ids from the OS's CSPRNG."""

from __future__ import annotations

import secrets
import uuid


class SystemSecrets:
    def token(self) -> str:
        return secrets.token_urlsafe(32)

    def session_id(self) -> str:
        return str(uuid.uuid4())
