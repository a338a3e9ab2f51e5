"""Our copy of routing's territories: SQL."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from problems.db.tables import territories


async def upsert_territory(session: AsyncSession, values: dict[str, Any], boundary: dict[str, Any] | None) -> bool:
    """Insert or update; an older ``changed_at`` than what we hold is ignored. True if applied."""
    geometry = (
        func.ST_Multi(func.ST_SetSRID(func.ST_GeomFromGeoJSON(json.dumps(boundary)), 4326))
        if boundary is not None
        else None
    )
    statement = pg_insert(territories).values(**values, boundary=geometry)
    result = await session.execute(
        statement.on_conflict_do_update(
            index_elements=[territories.c.id],
            set_={
                name: statement.excluded[name]
                for name in ("oktmo", "name", "level", "parent_id", "timezone", "boundary", "changed_at")
            },
            where=territories.c.changed_at <= statement.excluded.changed_at,
        ).returning(territories.c.id)
    )
    return result.first() is not None


async def set_premoderation(session: AsyncSession, territory_id: uuid.UUID, premoderation: bool) -> bool:
    result = await session.execute(
        update(territories)
        .where(territories.c.id == territory_id)
        .values(premoderation=premoderation)
        .returning(territories.c.id)
    )
    return result.first() is not None


async def territory(session: AsyncSession, territory_id: uuid.UUID) -> Any:
    query = select(
        territories.c.id,
        territories.c.oktmo,
        territories.c.name,
        territories.c.level,
        territories.c.premoderation,
        territories.c.changed_at,
    ).where(territories.c.id == territory_id)
    return (await session.execute(query)).first()
