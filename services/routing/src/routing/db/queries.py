"""Read queries behind the HTTP API (lists are keyset-paginated: ``after`` is the last row's sort key)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from routing.db import repo
from routing.db.tables import (
    appeal_answers,
    appeal_applicants,
    appeal_attachments,
    appeal_events,
    appeal_notes,
    appeals,
    authorities,
    deliveries,
    jurisdiction_rules,
    officials,
    problems,
    response_templates,
    supervisors,
    territories,
)

DUE_AT = case((appeals.c.status == "sent", appeals.c.registration_due_at), else_=appeals.c.answer_due_at).label(
    "due_at"
)


# --- territories ----------------------------------------------------------------------------------------------


def _territory_columns(with_boundary: bool) -> list[Any]:
    columns: list[Any] = [
        territories.c.id,
        territories.c.parent_id,
        territories.c.oktmo,
        territories.c.name,
        territories.c.level,
        territories.c.timezone,
    ]
    if with_boundary:
        columns.append(func.ST_AsGeoJSON(territories.c.boundary, 6).label("boundary"))
    return columns


def boundary_json(row: Any) -> dict[str, Any] | None:
    value = getattr(row, "boundary", None)
    return json.loads(value) if value else None


async def list_territories(
    session: AsyncSession, *, oktmo: str | None, parent_id: uuid.UUID | None, after: list[Any] | None, limit: int
) -> list[Any]:
    query = select(*_territory_columns(False)).order_by(territories.c.oktmo)
    if oktmo is not None:
        query = query.where(territories.c.oktmo == oktmo)
    if parent_id is not None:
        query = query.where(territories.c.parent_id == parent_id)
    if after:
        query = query.where(territories.c.oktmo > str(after[0]))
    return list((await session.execute(query.limit(limit + 1))).all())


async def territory(session: AsyncSession, territory_id: uuid.UUID) -> Any:
    query = select(*_territory_columns(True)).where(territories.c.id == territory_id)
    return (await session.execute(query)).first()


async def territories_at(session: AsyncSession, lon: float, lat: float) -> list[Any]:
    return list(await repo.territories_at(session, lon, lat))


# --- authorities and rules ------------------------------------------------------------------------------------


async def list_authorities(
    session: AsyncSession, *, kind: str | None, parent_id: uuid.UUID | None, after: list[Any] | None, limit: int
) -> list[Any]:
    query = select(authorities).order_by(authorities.c.name, authorities.c.id)
    if kind:
        query = query.where(authorities.c.kind == kind)
    if parent_id:
        query = query.where(authorities.c.parent_id == parent_id)
    if after:
        query = query.where(tuple_(authorities.c.name, authorities.c.id) > tuple_(str(after[0]), uuid.UUID(after[1])))
    return list((await session.execute(query.limit(limit + 1))).all())


async def authority(session: AsyncSession, authority_id: uuid.UUID) -> Any:
    return await repo.authority(session, authority_id)


async def list_rules(
    session: AsyncSession, *, territory_id: uuid.UUID | None, after: list[Any] | None, limit: int
) -> list[Any]:
    query = select(jurisdiction_rules).order_by(jurisdiction_rules.c.id)
    if territory_id:
        query = query.where(jurisdiction_rules.c.territory_id == territory_id)
    if after:
        query = query.where(jurisdiction_rules.c.id > uuid.UUID(after[0]))
    return list((await session.execute(query.limit(limit + 1))).all())


async def list_supervisors(session: AsyncSession, *, after: list[Any] | None, limit: int) -> list[Any]:
    query = select(supervisors).order_by(supervisors.c.id)
    if after:
        query = query.where(supervisors.c.id > uuid.UUID(after[0]))
    return list((await session.execute(query.limit(limit + 1))).all())


async def list_officials(
    session: AsyncSession, authority_id: uuid.UUID, *, after: list[Any] | None, limit: int
) -> list[Any]:
    query = select(officials).where(officials.c.authority_id == authority_id).order_by(officials.c.user_id)
    if after:
        query = query.where(officials.c.user_id > uuid.UUID(after[0]))
    return list((await session.execute(query.limit(limit + 1))).all())


async def memberships(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    return await repo.memberships(session, user_id)


async def failed_deliveries(session: AsyncSession, *, after: list[Any] | None, limit: int) -> list[Any]:
    query = (
        select(deliveries, appeals.c.authority_id)
        .join(appeals, appeals.c.id == deliveries.c.appeal_id)
        .where(deliveries.c.status.in_(("failed", "bounced")))
        .order_by(deliveries.c.updated_at.desc(), deliveries.c.id)
    )
    if after:
        query = query.where(
            or_(
                deliveries.c.updated_at < datetime.fromisoformat(after[0]),
                and_(
                    deliveries.c.updated_at == datetime.fromisoformat(after[0]), deliveries.c.id > uuid.UUID(after[1])
                ),
            )
        )
    return list((await session.execute(query.limit(limit + 1))).all())


# --- the cabinet ----------------------------------------------------------------------------------------------


def _appeal_columns() -> list[Any]:
    return [
        appeals,
        DUE_AT,
        authorities.c.name.label("authority_name"),
        problems.c.title,
        problems.c.address,
        problems.c.category_name,
    ]


async def queue(
    session: AsyncSession,
    scope: Collection[uuid.UUID],
    *,
    status: str | None,
    authority_id: uuid.UUID | None,
    department_id: uuid.UUID | None,
    assignee_user_id: uuid.UUID | None,
    category_code: str | None,
    overdue: bool | None,
    now: datetime,
    after: list[Any] | None,
    limit: int,
) -> list[Any]:
    """Appeals of the caller's authorities, nearest deadline first."""
    query = (
        select(*_appeal_columns())
        .join(authorities, authorities.c.id == appeals.c.authority_id)
        .join(problems, problems.c.id == appeals.c.problem_id)
        .where(appeals.c.authority_id.in_(list(scope)))
        .order_by(DUE_AT, appeals.c.id)
    )
    if status:
        query = query.where(appeals.c.status == status)
    if authority_id:
        query = query.where(appeals.c.authority_id == authority_id)
    if department_id:
        query = query.where(appeals.c.department_id == department_id)
    if assignee_user_id:
        query = query.where(appeals.c.assignee_user_id == assignee_user_id)
    if category_code:
        query = query.where(appeals.c.category_code == category_code)
    if overdue is not None:
        is_overdue = and_(appeals.c.status.in_(("sent", "registered", "in_work")), now > DUE_AT)
        query = query.where(is_overdue if overdue else ~is_overdue)
    if after:
        query = query.where(
            tuple_(DUE_AT, appeals.c.id) > tuple_(datetime.fromisoformat(after[0]), uuid.UUID(after[1]))
        )
    return list((await session.execute(query.limit(limit + 1))).all())


async def appeal(session: AsyncSession, appeal_id: uuid.UUID, scope: Collection[uuid.UUID]) -> Any:
    query = (
        select(
            *_appeal_columns(),
            problems.c.description,
            problems.c.photos,
            problems.c.public_url,
            func.ST_X(problems.c.point).label("lon"),
            func.ST_Y(problems.c.point).label("lat"),
            appeal_applicants.c.full_name.label("applicant_name"),
            appeal_applicants.c.email.label("applicant_email"),
            appeal_applicants.c.postal_address.label("applicant_postal_address"),
        )
        .join(authorities, authorities.c.id == appeals.c.authority_id)
        .join(problems, problems.c.id == appeals.c.problem_id)
        .outerjoin(appeal_applicants, appeal_applicants.c.appeal_id == appeals.c.id)
        .where(appeals.c.id == appeal_id, appeals.c.authority_id.in_(list(scope)))
    )
    return (await session.execute(query)).first()


async def timeline(session: AsyncSession, appeal_id: uuid.UUID) -> list[Any]:
    query = select(appeal_events).where(appeal_events.c.appeal_id == appeal_id).order_by(appeal_events.c.id)
    return list((await session.execute(query)).all())


async def notes(session: AsyncSession, appeal_id: uuid.UUID) -> list[Any]:
    query = select(appeal_notes).where(appeal_notes.c.appeal_id == appeal_id).order_by(appeal_notes.c.created_at)
    return list((await session.execute(query)).all())


async def answer(session: AsyncSession, appeal_id: uuid.UUID) -> Any:
    return (await session.execute(select(appeal_answers).where(appeal_answers.c.appeal_id == appeal_id))).first()


async def attachments(session: AsyncSession, appeal_id: uuid.UUID) -> list[Any]:
    query = select(
        appeal_attachments.c.id,
        appeal_attachments.c.url,
        appeal_attachments.c.filename,
        appeal_attachments.c.content_type,
        appeal_attachments.c.size,
    ).where(appeal_attachments.c.appeal_id == appeal_id)
    return list((await session.execute(query)).all())


async def attachment_content(session: AsyncSession, appeal_id: uuid.UUID, attachment_id: uuid.UUID) -> Any:
    query = select(appeal_attachments).where(
        appeal_attachments.c.id == attachment_id,
        appeal_attachments.c.appeal_id == appeal_id,
        appeal_attachments.c.content.is_not(None),
    )
    return (await session.execute(query)).first()


async def templates(
    session: AsyncSession, scope: Collection[uuid.UUID], *, after: list[Any] | None, limit: int
) -> list[Any]:
    query = (
        select(response_templates)
        .where(response_templates.c.authority_id.in_(list(scope)))
        .order_by(response_templates.c.id)
    )
    if after:
        query = query.where(response_templates.c.id > uuid.UUID(after[0]))
    return list((await session.execute(query.limit(limit + 1))).all())


async def ping(session: AsyncSession) -> None:
    await session.execute(text("SELECT 1"))


async def escalations(
    session: AsyncSession, scope: Collection[uuid.UUID], *, after: list[Any] | None, limit: int
) -> list[Any]:
    """Appeals escalated to the caller's (supervisory) authorities, newest first. No personal data."""
    query = (
        select(
            appeal_events.c.id.label("event_id"),
            appeal_events.c.at.label("escalated_at"),
            appeal_events.c.data["cause"].astext.label("cause"),
            appeals.c.id.label("appeal_id"),
            appeals.c.problem_id,
            appeals.c.status,
            appeals.c.category_code,
            appeals.c.sent_at,
            appeals.c.registration_due_at,
            appeals.c.answer_due_at,
            authorities.c.id.label("authority_id"),
            authorities.c.name.label("authority_name"),
            problems.c.title,
            problems.c.address,
            problems.c.category_name,
        )
        .join(appeals, appeals.c.id == appeal_events.c.appeal_id)
        .join(authorities, authorities.c.id == appeals.c.authority_id)
        .join(problems, problems.c.id == appeals.c.problem_id)
        .where(
            appeal_events.c.kind == "escalated",
            appeal_events.c.data["supervisor_id"].astext.in_([str(a) for a in scope]),
        )
        .order_by(appeal_events.c.id.desc())
    )
    if after:
        query = query.where(appeal_events.c.id < int(after[0]))
    return list((await session.execute(query.limit(limit + 1))).all())
