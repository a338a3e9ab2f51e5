"""Officials join an authority by an operator's invitation; the token is shown once and stored hashed."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from routing.db.tables import authorities, official_invitations, officials
from servicekit.http.problems import ProblemError


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_invitation(
    session: AsyncSession,
    *,
    authority_id: uuid.UUID,
    position: str,
    department_id: uuid.UUID | None,
    invited_by: uuid.UUID,
    days: int,
) -> str:
    """A new invitation to ``authority_id``; returns the token (not stored: only its hash is)."""
    found = (await session.execute(select(authorities.c.id).where(authorities.c.id == authority_id))).first()
    if found is None:
        raise ProblemError(404, "Орган власти не найден.")
    if department_id is not None:
        department = (
            await session.execute(
                select(authorities.c.id).where(
                    authorities.c.id == department_id, authorities.c.parent_id == authority_id
                )
            )
        ).first()
        if department is None:
            raise ProblemError(
                422,
                "Подразделение не относится к этому органу.",
                errors=[{"field": "body.department_id", "message": "Неизвестное подразделение."}],
            )
    token = secrets.token_urlsafe(32)
    await session.execute(
        insert(official_invitations).values(
            id=uuid.uuid4(),
            authority_id=authority_id,
            token_hash=_hash(token),
            position=position,
            department_id=department_id,
            invited_by=invited_by,
            expires_at=datetime.now(UTC) + timedelta(days=days),
        )
    )
    return token


async def accept_invitation(session: AsyncSession, *, token: str, user_id: uuid.UUID) -> uuid.UUID:
    """Bind the official ``user_id`` to the invitation's authority; returns the authority's id."""
    row = (
        await session.execute(
            select(official_invitations).where(official_invitations.c.token_hash == _hash(token)).with_for_update()
        )
    ).first()
    now = datetime.now(UTC)
    if row is None or row.accepted_at is not None or row.expires_at < now:
        raise ProblemError(
            404,
            "Приглашение не найдено, уже использовано или истекло. Попросите оператора прислать новое.",
        )
    await session.execute(
        update(official_invitations)
        .where(official_invitations.c.id == row.id)
        .values(accepted_by=user_id, accepted_at=now)
    )
    values = {"position": row.position, "department_id": row.department_id, "invited_by": row.invited_by}
    await session.execute(
        insert(officials)
        .values(user_id=user_id, authority_id=row.authority_id, **values)
        .on_conflict_do_update(index_elements=[officials.c.user_id, officials.c.authority_id], set_=values)
    )
    authority_id: uuid.UUID = row.authority_id
    return authority_id
