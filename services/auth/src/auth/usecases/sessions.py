"""Browser sessions for single sign-on: the cookie holds a random id; the database holds only its hash."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.tables import browser_sessions
from auth.domain.secrets import new_token, token_hash


@dataclass(frozen=True)
class BrowserSession:
    user_id: uuid.UUID
    auth_time: datetime


async def start_session(session: AsyncSession, user_id: uuid.UUID, *, ttl: int) -> str:
    """Returns the cookie value. Call inside the unit of work of the sign-in."""
    raw = new_token()
    now = datetime.now(UTC)
    await session.execute(
        browser_sessions.insert().values(
            id_hash=token_hash(raw), user_id=user_id, auth_time=now, expires_at=now + timedelta(seconds=ttl)
        )
    )
    return raw


async def current_session(session: AsyncSession, raw: str | None) -> BrowserSession | None:
    if not raw or len(raw) > 128:
        return None
    row = (
        await session.execute(
            select(browser_sessions.c.user_id, browser_sessions.c.auth_time).where(
                browser_sessions.c.id_hash == token_hash(raw),
                browser_sessions.c.revoked_at.is_(None),
                browser_sessions.c.expires_at > datetime.now(UTC),
            )
        )
    ).first()
    return BrowserSession(row.user_id, row.auth_time) if row else None


async def end_session(session: AsyncSession, raw: str | None) -> None:
    if raw:
        await session.execute(
            update(browser_sessions)
            .where(browser_sessions.c.id_hash == token_hash(raw))
            .values(revoked_at=datetime.now(UTC))
        )


async def end_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(browser_sessions)
        .where(browser_sessions.c.user_id == user_id, browser_sessions.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
