"""RFC 6238 codes with pyotp."""

from __future__ import annotations

from datetime import datetime

import pyotp

# One step either side: a phone's clock may drift by up to 30 s.
DRIFT_STEPS = 1


class PyOtpTotp:
    def new_secret(self) -> str:
        return pyotp.random_base32()

    def provisioning_uri(self, secret: str, *, account: str, issuer: str) -> str:
        return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)

    def matching_step(self, secret: str, code: str, at: datetime) -> int | None:
        code = code.strip().replace(" ", "")
        if not code.isdigit() or len(code) != 6:
            return None
        totp = pyotp.TOTP(secret)
        step = totp.timecode(at)
        for offset in range(-DRIFT_STEPS, DRIFT_STEPS + 1):
            if pyotp.utils.strings_equal(totp.generate_otp(step + offset), code):
                return step + offset
        return None
