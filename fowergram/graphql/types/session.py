from __future__ import annotations

from datetime import datetime

import strawberry

from fowergram.domain.auth.sessions import Session


@strawberry.type(name="Session", description="A signed-in device.")
class SessionType:
    id: strawberry.ID
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str | None
    current: bool

    @classmethod
    def from_domain(cls, session: Session, *, current_id: str) -> SessionType:
        return cls(
            id=strawberry.ID(session.id),
            created_at=session.created_at,
            last_seen_at=session.last_seen_at,
            expires_at=session.expires_at,
            user_agent=session.user_agent,
            ip=session.ip,
            current=session.id == current_id,
        )
