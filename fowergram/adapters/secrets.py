"""Unguessable tokens and session ids from the OS's CSPRNG."""

from __future__ import annotations

import secrets
import uuid

_RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: 5 bits each


class SystemSecrets:
    def token(self) -> str:
        return secrets.token_urlsafe(32)

    def session_id(self) -> str:
        return str(uuid.uuid4())

    def recovery_code(self) -> str:
        """XXXX-XXXX-XXXX-XXXX from an unambiguous alphabet: 80 bits, easy to type."""
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(16))
        return "-".join(raw[i : i + 4] for i in range(0, 16, 4))
