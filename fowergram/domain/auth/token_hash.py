from __future__ import annotations

import hashlib


def hash_token(token: str) -> bytes:
    """What we store of a token we handed out (refresh, mailed link, MFA challenge).

    They carry 256 random bits: a fast hash is enough, there is nothing to brute-force.
    """
    return hashlib.sha256(token.encode()).digest()
