"""Maps and categories: SQL."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, exists, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from problems.db.tables import categories, maps, problems

_PARENT = categories.alias("parent")

_CATEGORY_COLUMNS = [
    categories,
    maps.c.code.label("map_code"),
    maps.c.volunteers_only.label("map_volunteers_only"),
    maps.c.premoderation.label("map_premoderation"),
    _PARENT.c.code.label("parent_code"),
]


def _category_query() -> Any:
    return (
        select(*_CATEGORY_COLUMNS)  # type: ignore[call-overload]
        .select_from(categories.join(maps, maps.c.id == categories.c.map_id))
        .outerjoin(_PARENT, _PARENT.c.id == categories.c.parent_id)
    )


async def list_maps(session: AsyncSession, *, after: tuple[int, str] | None, limit: int) -> list[Any]:
    query = select(maps).order_by(maps.c.position, maps.c.code).limit(limit)
    if after is not None:
        query = query.where(tuple_(maps.c.position, maps.c.code) > tuple_(*after))
    return list((await session.execute(query)).all())


async def map_by_code(session: AsyncSession, code: str) -> Any:
    return (await session.execute(select(maps).where(maps.c.code == code))).first()


async def insert_map(session: AsyncSession, values: dict[str, Any]) -> bool:
    result = await session.execute(pg_insert(maps).values(**values).on_conflict_do_nothing().returning(maps.c.id))
    return result.first() is not None


async def update_map(session: AsyncSession, code: str, values: dict[str, Any]) -> bool:
    result = await session.execute(
        update(maps).where(maps.c.code == code).values(**values, updated_at=func.now()).returning(maps.c.id)
    )
    return result.first() is not None


async def delete_map(session: AsyncSession, map_id: uuid.UUID) -> None:
    await session.execute(delete(maps).where(maps.c.id == map_id))


async def map_in_use(session: AsyncSession, map_id: uuid.UUID) -> bool:
    query = select(exists().where(categories.c.map_id == map_id))
    return bool((await session.execute(query)).scalar())


async def list_categories(
    session: AsyncSession,
    *,
    map_code: str | None,
    after: tuple[int, str] | None,
    limit: int,
    include_inactive: bool = False,
) -> list[Any]:
    query = _category_query().order_by(categories.c.position, categories.c.code).limit(limit)
    if map_code is not None:
        query = query.where(maps.c.code == map_code)
    if not include_inactive:
        query = query.where(categories.c.active)
    if after is not None:
        query = query.where(tuple_(categories.c.position, categories.c.code) > tuple_(*after))
    return list((await session.execute(query)).all())


async def category_by_code(session: AsyncSession, code: str) -> Any:
    return (await session.execute(_category_query().where(categories.c.code == code))).first()


async def category_by_id(session: AsyncSession, category_id: uuid.UUID) -> Any:
    return (await session.execute(_category_query().where(categories.c.id == category_id))).first()


async def insert_category(session: AsyncSession, values: dict[str, Any]) -> bool:
    result = await session.execute(
        pg_insert(categories).values(**values).on_conflict_do_nothing().returning(categories.c.id)
    )
    return result.first() is not None


async def update_category(session: AsyncSession, category_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(
        update(categories).where(categories.c.id == category_id).values(**values, updated_at=func.now())
    )


async def category_in_use(session: AsyncSession, category_id: uuid.UUID) -> bool:
    used = exists().where(problems.c.category_id == category_id)
    child = exists().where(categories.c.parent_id == category_id)
    return bool((await session.execute(select(used | child))).scalar())


async def delete_category(session: AsyncSession, category_id: uuid.UUID) -> None:
    await session.execute(delete(categories).where(categories.c.id == category_id))


async def upsert_map(session: AsyncSession, values: dict[str, Any]) -> None:
    """Demo loader: insert or refresh by code."""
    statement = pg_insert(maps).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[maps.c.code], set_={k: statement.excluded[k] for k in values if k not in ("id", "code")}
        )
    )


async def upsert_category(session: AsyncSession, values: dict[str, Any]) -> None:
    statement = pg_insert(categories).values(**values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[categories.c.code],
            set_={k: statement.excluded[k] for k in values if k not in ("id", "code")},
        )
    )
