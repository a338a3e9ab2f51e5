"""Problems and everything hanging off them (applicants, photos, supports, timeline, answers): SQL."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    Boolean,
    Float,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from problems.db.tables import (
    answers,
    applicants,
    categories,
    maps,
    moderation_records,
    photos,
    problems,
    status_history,
    supports,
    territories,
)


def make_point(lon: float, lat: float) -> Any:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def _view_query() -> Any:
    columns = [c for c in problems.c if c.name not in ("point", "search")]
    return select(
        *columns,
        func.ST_X(problems.c.point).label("lon"),
        func.ST_Y(problems.c.point).label("lat"),
        maps.c.code.label("map_code"),
        categories.c.code.label("category_code"),
        categories.c.name.label("category_name"),
        applicants.c.display_name.label("author_display_name"),
    ).select_from(
        problems.join(maps, maps.c.id == problems.c.map_id)
        .join(categories, categories.c.id == problems.c.category_id)
        .outerjoin(applicants, applicants.c.problem_id == problems.c.id)
    )


async def territories_covering(session: AsyncSession, lon: float, lat: float) -> list[Any]:
    query = select(territories.c.id, territories.c.premoderation).where(
        func.ST_Covers(territories.c.boundary, make_point(lon, lat))
    )
    return list((await session.execute(query)).all())


async def insert_problem(session: AsyncSession, values: dict[str, Any], lon: float, lat: float) -> None:
    await session.execute(insert(problems).values(**values, point=make_point(lon, lat)))


REPORT_COLUMNS = (
    "id",
    "map_id",
    "category_id",
    "private",
    "address",
    "title",
    "description",
    "extra",
    "author_id",
    "anonymous",
    "reported_by_client",
    "reported_at",
    "updated_at",
)
"""The columns :func:`report_problem` takes from the caller (status, territory_ids, published_at it decides)."""


APPLICANT_COLUMNS = ("user_id", "display_name", "full_name", "email", "postal_address")
"""The applicant's columns :func:`report_problem` takes (``problem_id`` is the new problem's)."""


def _report_statement(with_applicant: bool) -> Any:
    """Built once (bind parameters only): building this construct per request costs more than running it."""
    point = func.ST_SetSRID(func.ST_MakePoint(bindparam("lon", type_=Float), bindparam("lat", type_=Float)), 4326)
    covering = (
        select(
            func.coalesce(func.array_agg(territories.c.id), cast(text("'{}'"), problems.c.territory_ids.type)).label(
                "ids"
            ),
            func.coalesce(func.bool_or(territories.c.premoderation), False).label("premoderation"),
        )
        .where(func.ST_Covers(territories.c.boundary, point))
        .cte("covering")
    )
    held = or_(bindparam("map_premoderation", type_=Boolean), covering.c.premoderation)
    columns: dict[str, Any] = {name: bindparam(f"v_{name}", type_=problems.c[name].type) for name in REPORT_COLUMNS}
    columns["status"] = case((held, literal("moderation")), else_=literal("published"))
    columns["territory_ids"] = covering.c.ids
    columns["published_at"] = case((held, null()), else_=columns["reported_at"])
    columns["point"] = point
    returned = [c for c in problems.c if c.name not in ("point", "search")]
    inserted = (
        insert(problems)
        .from_select(list(columns), select(*(v.label(k) for k, v in columns.items())).select_from(covering))
        .returning(*returned, func.ST_X(problems.c.point).label("lon"), func.ST_Y(problems.c.point).label("lat"))
        .cte("inserted")
    )
    step_text = case(
        (inserted.c.status == "moderation", bindparam("step_moderation", type_=Text)),
        else_=bindparam("step_published", type_=Text),
    )
    timeline_step = insert(status_history).from_select(
        ["problem_id", "at", "status", "text"],
        select(inserted.c.id, inserted.c.reported_at, inserted.c.status, step_text),
    )
    statement = select(inserted).add_cte(timeline_step.cte("timeline_step"))
    if with_applicant:
        applicant_row = insert(applicants).from_select(
            ["problem_id", *APPLICANT_COLUMNS],
            select(
                inserted.c.id,
                *(bindparam(f"a_{name}", type_=applicants.c[name].type) for name in APPLICANT_COLUMNS),
            ),
        )
        statement = statement.add_cte(applicant_row.cte("applicant_row"))
    return statement


_REPORT = {with_applicant: _report_statement(with_applicant) for with_applicant in (False, True)}


async def report_problem(
    session: AsyncSession,
    values: dict[str, Any],
    lon: float,
    lat: float,
    *,
    map_premoderation: bool,
    first_step: dict[str, str],
    applicant: dict[str, Any] | None = None,
) -> Any:
    """Insert a new problem, its first timeline step and its ``applicant`` (the :data:`APPLICANT_COLUMNS`), if
    any, in one round trip.

    The territories covering the point are looked up in the same statement: their ids go to ``territory_ids``,
    and if the map or any of them is pre-moderated the problem starts in ``moderation`` (``published_at`` null),
    otherwise in ``published``. ``values`` holds the :data:`REPORT_COLUMNS`; ``first_step`` the timeline's text
    by status. Returns the inserted row (the problem's columns, ``lon``/``lat``)."""
    params = {f"v_{name}": values[name] for name in REPORT_COLUMNS}
    params.update(
        lon=lon,
        lat=lat,
        map_premoderation=map_premoderation,
        step_moderation=first_step["moderation"],
        step_published=first_step["published"],
    )
    if applicant is not None:
        params.update({f"a_{name}": applicant[name] for name in APPLICANT_COLUMNS})
    return (await session.execute(_REPORT[applicant is not None], params)).one()


async def insert_applicant(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(applicants).values(**values))


async def applicant(session: AsyncSession, problem_id: uuid.UUID) -> Any:
    return (await session.execute(select(applicants).where(applicants.c.problem_id == problem_id))).first()


async def add_timeline(
    session: AsyncSession,
    problem_id: uuid.UUID,
    *,
    at: datetime,
    status: str,
    text_: str,
    authority_id: uuid.UUID | None = None,
    authority_name: str | None = None,
    source_event: str | None = None,
) -> None:
    await session.execute(
        insert(status_history).values(
            problem_id=problem_id,
            at=at,
            status=status,
            text=text_,
            authority_id=authority_id,
            authority_name=authority_name,
            source_event=source_event,
        )
    )


async def problem_view(session: AsyncSession, problem_id: uuid.UUID, *, for_update: bool = False) -> Any:
    query = _view_query().where(problems.c.id == problem_id)
    if for_update:
        query = query.with_for_update(of=problems)
    return (await session.execute(query)).first()


async def lock_problem(session: AsyncSession, problem_id: uuid.UUID) -> Any:
    return await problem_view(session, problem_id, for_update=True)


async def update_problem(session: AsyncSession, problem_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(update(problems).where(problems.c.id == problem_id).values(**values, updated_at=func.now()))


async def timeline(session: AsyncSession, problem_id: uuid.UUID) -> list[Any]:
    query = (
        select(status_history)
        .where(status_history.c.problem_id == problem_id)
        .order_by(status_history.c.at, status_history.c.id)
    )
    return list((await session.execute(query)).all())


async def answer_list(session: AsyncSession, problem_id: uuid.UUID) -> list[Any]:
    query = select(answers).where(answers.c.problem_id == problem_id).order_by(answers.c.answered_at, answers.c.id)
    return list((await session.execute(query)).all())


async def insert_answer(session: AsyncSession, values: dict[str, Any]) -> bool:
    result = await session.execute(pg_insert(answers).values(**values).on_conflict_do_nothing().returning(answers.c.id))
    return result.first() is not None


async def photo_list(session: AsyncSession, problem_id: uuid.UUID) -> list[Any]:
    query = select(photos).where(photos.c.problem_id == problem_id).order_by(photos.c.position)
    return list((await session.execute(query)).all())


async def insert_photo(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(photos).values(**values))


async def photo(session: AsyncSession, photo_id: uuid.UUID) -> Any:
    return (await session.execute(select(photos).where(photos.c.id == photo_id))).first()


async def claimable_photos(session: AsyncSession, photo_ids: list[uuid.UUID], owner: str) -> list[uuid.UUID]:
    """Those of ``photo_ids`` uploaded by ``owner`` and not yet attached, locked."""
    query = (
        select(photos.c.id)
        .where(photos.c.id.in_(photo_ids), photos.c.owner_id == owner, photos.c.problem_id.is_(None))
        .with_for_update()
    )
    return list((await session.execute(query)).scalars())


async def attach_photos(session: AsyncSession, problem_id: uuid.UUID, photo_ids: list[uuid.UUID]) -> None:
    for position, photo_id in enumerate(photo_ids):
        await session.execute(
            update(photos).where(photos.c.id == photo_id).values(problem_id=problem_id, position=position)
        )


async def orphan_photos(session: AsyncSession, older_than: datetime, limit: int = 500) -> list[Any]:
    query = (
        select(photos.c.id, photos.c.storage_key, photos.c.thumbnail_key)
        .where(photos.c.problem_id.is_(None), photos.c.created_at < older_than)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.execute(query)).all())


async def delete_photos(session: AsyncSession, photo_ids: list[uuid.UUID]) -> None:
    await session.execute(delete(photos).where(photos.c.id.in_(photo_ids)))


async def duplicates(
    session: AsyncSession, *, category_id: uuid.UUID, lon: float, lat: float, radius_m: int, statuses: list[str]
) -> list[Any]:
    here = cast(make_point(lon, lat), Geography)
    distance = func.ST_Distance(cast(problems.c.point, Geography), here)
    query = (
        _view_query()
        .add_columns(distance.label("distance_m"))
        .where(
            problems.c.category_id == category_id,
            problems.c.status.in_(statuses),
            problems.c.status != "moderation",
            func.ST_DWithin(cast(problems.c.point, Geography), here, radius_m),
        )
        .order_by(distance)
        .limit(20)
    )
    return list((await session.execute(query)).all())


async def add_support(session: AsyncSession, problem_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    inserted = await session.execute(
        pg_insert(supports)
        .values(problem_id=problem_id, user_id=user_id)
        .on_conflict_do_nothing()
        .returning(supports.c.user_id)
    )
    if inserted.first() is None:
        return False
    await session.execute(
        update(problems).where(problems.c.id == problem_id).values(supports_count=problems.c.supports_count + 1)
    )
    return True


async def remove_support(session: AsyncSession, problem_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    deleted = await session.execute(
        delete(supports)
        .where(supports.c.problem_id == problem_id, supports.c.user_id == user_id)
        .returning(supports.c.user_id)
    )
    if deleted.first() is None:
        return False
    await session.execute(
        update(problems)
        .where(problems.c.id == problem_id)
        .values(supports_count=func.greatest(problems.c.supports_count - 1, 0))
    )
    return True


async def has_support(session: AsyncSession, problem_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    query = select(literal(True)).where(supports.c.problem_id == problem_id, supports.c.user_id == user_id)
    return (await session.execute(query)).first() is not None


async def move_supports(session: AsyncSession, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
    """Move supports of a merged duplicate to the survivor (one per user), the duplicate's author's too."""
    moved = await session.execute(
        text(
            "INSERT INTO problems.supports (problem_id, user_id, created_at) "
            "SELECT CAST(:to_id AS uuid), user_id, created_at FROM problems.supports WHERE problem_id = :from_id "
            "UNION SELECT CAST(:to_id AS uuid), author_id, reported_at FROM problems.problems WHERE id = :from_id "
            "AND author_id IS NOT NULL "
            "ON CONFLICT DO NOTHING"
        ),
        {"to_id": to_id, "from_id": from_id},
    )
    await session.execute(delete(supports).where(supports.c.problem_id == from_id))
    count = select(func.count()).select_from(supports).where(supports.c.problem_id == problems.c.id).scalar_subquery()
    await session.execute(update(problems).where(problems.c.id.in_([from_id, to_id])).values(supports_count=count))
    return int(getattr(moved, "rowcount", 0) or 0)


async def insert_moderation(session: AsyncSession, values: dict[str, Any]) -> None:
    await session.execute(insert(moderation_records).values(**values))


async def moderation_queue(session: AsyncSession, *, after: tuple[datetime, uuid.UUID] | None, limit: int) -> list[Any]:
    query = _view_query().where(problems.c.status == "moderation").order_by(problems.c.reported_at, problems.c.id)
    if after is not None:
        query = query.where(tuple_(problems.c.reported_at, problems.c.id) > tuple_(*after))
    return list((await session.execute(query.limit(limit))).all())


async def answered_past_window(session: AsyncSession, now: datetime, limit: int = 200) -> list[Any]:
    query = (
        _view_query()
        .where(problems.c.status == "answered", problems.c.can_confirm_until < now)
        .limit(limit)
        .with_for_update(of=problems, skip_locked=True)
    )
    return list((await session.execute(query)).all())


async def problems_of_author(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    return list((await session.execute(select(problems.c.id).where(problems.c.author_id == user_id))).scalars())
