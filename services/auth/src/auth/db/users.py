"""Queries on accounts, roles and the audit log (schema ``auth``)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.tables import audit_log, user_roles, users
from auth.domain.roles import effective_roles


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def insert_user(
    session: AsyncSession,
    *,
    email: str | None,
    password_hash: str | None,
    full_name: str = "",
    phone: str | None = None,
    home_territory: str | None = None,
    email_verified: bool = False,
) -> uuid.UUID:
    user_id = uuid.uuid4()
    await session.execute(
        users.insert().values(
            id=user_id,
            email=normalise_email(email) if email else None,
            password_hash=password_hash,
            full_name=full_name,
            phone=phone,
            home_territory=home_territory,
            email_verified_at=func.now() if email_verified else None,
        )
    )
    return user_id


async def user_by_email(session: AsyncSession, email: str) -> Any:
    return (
        await session.execute(select(users).where(users.c.email == normalise_email(email), users.c.erased_at.is_(None)))
    ).first()


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> Any:
    return (await session.execute(select(users).where(users.c.id == user_id, users.c.erased_at.is_(None)))).first()


async def roles_of(session: AsyncSession, user_id: uuid.UUID) -> frozenset[str]:
    rows = await session.execute(select(user_roles.c.role).where(user_roles.c.user_id == user_id))
    return effective_roles({row.role for row in rows})


async def grant_role(session: AsyncSession, user_id: uuid.UUID, role: str, *, by: uuid.UUID | None) -> bool:
    """True if newly granted."""
    result = await session.execute(
        insert(user_roles)
        .values(user_id=user_id, role=role, granted_by=by)
        .on_conflict_do_nothing()
        .returning(user_roles.c.role)
    )
    return result.first() is not None


async def revoke_role(session: AsyncSession, user_id: uuid.UUID, role: str) -> bool:
    result = await session.execute(
        delete(user_roles)
        .where(user_roles.c.user_id == user_id, user_roles.c.role == role)
        .returning(user_roles.c.role)
    )
    return result.first() is not None


async def audit(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    subject_id: uuid.UUID | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Who did what to whom, when. Ids and codes only: never names, e-mails or passwords."""
    await session.execute(
        audit_log.insert().values(action=action, actor_id=actor_id, subject_id=subject_id, details=details or {})
    )
