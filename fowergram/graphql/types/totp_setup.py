from __future__ import annotations

import strawberry

from fowergram.domain.auth.mfa import TotpSetup


@strawberry.type(
    name="TotpSetup",
    description="Scan `otpauthUri` (or type `secret`) into an authenticator app, then "
    "confirm with a first code.",
)
class TotpSetupType:
    secret: str
    otpauth_uri: str

    @classmethod
    def from_domain(cls, setup: TotpSetup) -> TotpSetupType:
        return cls(secret=setup.secret, otpauth_uri=setup.otpauth_uri)
