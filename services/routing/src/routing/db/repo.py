"""SQL of the routing service: look-ups and locks the use cases need (schema ``routing``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from routing.db.tables import (
    appeal_applicants,
    appeals,
    authorities,
    officials,
    problems,
    supervisors,
    territories,
)


async def territories_at(session: AsyncSession, lon: float, lat: float) -> Sequence[Any]:
    """Territories whose boundary covers the point, most specific first (GiST index on ``boundary``)."""
    result = await session.execute(
        text(
            "SELECT id, name, oktmo, level, parent_id, timezone FROM routing.territories "
            "WHERE boundary IS NOT NULL AND ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) "
            "ORDER BY depth DESC, ST_Area(boundary) ASC"
        ),
        {"lon": lon, "lat": lat},
    )
    return result.all()


AUTHORITY_FACTS = (
    "name",
    "channel",
    "timezone",
    "calendar_country",
    "calendar_subdiv",
    "extra_holidays",
    "extra_workdays",
)
"""The authority columns :data:`RESOLUTION` returns, prefixed ``rule_authority_`` and ``administration_``."""
RESOLUTION = text(
    """
    SELECT t.id, t.name, t.oktmo, r.note AS rule_note,
           ra.id AS rule_authority_id, ra.name AS rule_authority_name, ra.channel AS rule_authority_channel,
           ra.timezone AS rule_authority_timezone, ra.calendar_country AS rule_authority_calendar_country,
           ra.calendar_subdiv AS rule_authority_calendar_subdiv,
           ra.extra_holidays AS rule_authority_extra_holidays, ra.extra_workdays AS rule_authority_extra_workdays,
           ad.id AS administration_id, ad.name AS administration_name, ad.channel AS administration_channel,
           ad.timezone AS administration_timezone, ad.calendar_country AS administration_calendar_country,
           ad.calendar_subdiv AS administration_calendar_subdiv,
           ad.extra_holidays AS administration_extra_holidays, ad.extra_workdays AS administration_extra_workdays
    FROM routing.territories t
    LEFT JOIN routing.jurisdiction_rules r ON r.territory_id = t.id AND r.category_code = :code
    LEFT JOIN routing.authorities ra ON ra.id = r.authority_id AND ra.active
    LEFT JOIN routing.authorities ad ON ad.territory_id = t.id AND ad.kind = 'administration' AND ad.active
    WHERE t.boundary IS NOT NULL AND ST_Covers(t.boundary, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
    ORDER BY t.depth DESC, ST_Area(t.boundary) ASC
    """
)
"""Point + category → in one round trip: the territories covering the point, most specific first (GiST), each
with its active rule's authority for the category (``rule_authority_*``, NULL if none) and its active
administration (``administration_*``), with what opening an appeal needs of them (channel, calendar)."""


async def resolution(session: AsyncSession, lon: float, lat: float, category_code: str) -> Sequence[Any]:
    return (await session.execute(RESOLUTION, {"lon": lon, "lat": lat, "code": category_code})).all()


async def supervisor_for(session: AsyncSession, territory_ids: Sequence[uuid.UUID], category_code: str) -> Any:
    """The supervisory authority for the most specific territory (``territory_ids`` in that order), a rule
    for the category before a rule for every category ('*')."""
    if not territory_ids:
        return None
    order = func.array_position(literal(list(territory_ids)), supervisors.c.territory_id)
    result = await session.execute(
        select(authorities.c.id, authorities.c.name)
        .join(supervisors, supervisors.c.supervisor_id == authorities.c.id)
        .where(
            supervisors.c.territory_id.in_(territory_ids),
            supervisors.c.category_code.in_([category_code, "*"]),
        )
        .order_by(order, (supervisors.c.category_code == "*").asc())
        .limit(1)
    )
    return result.first()


async def territory_chain(session: AsyncSession, territory_id: uuid.UUID) -> list[uuid.UUID]:
    """The territory and its ancestors, innermost first."""
    result = await session.execute(
        text(
            "WITH RECURSIVE chain(id, parent_id, n) AS ("
            " SELECT id, parent_id, 0 FROM routing.territories WHERE id = :id"
            " UNION ALL SELECT t.id, t.parent_id, c.n + 1 FROM routing.territories t JOIN chain c ON t.id = c.parent_id"
            " WHERE c.n < 32) SELECT id FROM chain ORDER BY n"
        ),
        {"id": territory_id},
    )
    return [row[0] for row in result.all()]


async def authority(session: AsyncSession, authority_id: uuid.UUID) -> Any:
    return (await session.execute(select(authorities).where(authorities.c.id == authority_id))).first()


def appeal_context_query() -> Any:
    """Appeal columns with what every event and rule needs: the authority's name and calendar, the OKTMO."""
    return (
        select(
            appeals,
            authorities.c.name.label("authority_name"),
            authorities.c.timezone.label("authority_timezone"),
            authorities.c.calendar_country,
            authorities.c.calendar_subdiv,
            authorities.c.extra_holidays,
            authorities.c.extra_workdays,
            authorities.c.channel.label("authority_channel"),
            territories.c.oktmo.label("territory_oktmo"),
        )
        .join(authorities, authorities.c.id == appeals.c.authority_id)
        .outerjoin(territories, territories.c.id == appeals.c.territory_id)
    )


async def lock_appeal(session: AsyncSession, appeal_id: uuid.UUID) -> Any:
    """The appeal with its context, its row locked for this transaction."""
    query = appeal_context_query().where(appeals.c.id == appeal_id).with_for_update(of=appeals)
    return (await session.execute(query)).first()


async def update_appeal(session: AsyncSession, appeal_id: uuid.UUID, **values: Any) -> None:
    await session.execute(update(appeals).where(appeals.c.id == appeal_id).values(updated_at=func.now(), **values))


async def problem(session: AsyncSession, problem_id: uuid.UUID) -> Any:
    query = select(
        problems,
        func.ST_X(problems.c.point).label("lon"),
        func.ST_Y(problems.c.point).label("lat"),
    ).where(problems.c.id == problem_id)
    return (await session.execute(query)).first()


async def latest_appeal_of_problem(session: AsyncSession, problem_id: uuid.UUID) -> Any:
    query = (
        appeal_context_query()
        .where(appeals.c.problem_id == problem_id, appeals.c.status != "forwarded")
        .order_by(appeals.c.sent_at.desc())
        .limit(1)
    )
    return (await session.execute(query)).first()


async def applicant(session: AsyncSession, appeal_id: uuid.UUID) -> Any:
    return (await session.execute(select(appeal_applicants).where(appeal_applicants.c.appeal_id == appeal_id))).first()


async def memberships(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    result = await session.execute(select(officials.c.authority_id).where(officials.c.user_id == user_id))
    return [row[0] for row in result.all()]
