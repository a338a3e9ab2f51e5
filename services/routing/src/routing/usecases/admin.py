"""Operators' use cases: territories, authorities, jurisdiction rules, supervisors, response templates."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError

from routing.db import repo
from routing.db.tables import authorities, jurisdiction_rules, response_templates, supervisors, territories
from routing.events import published
from servicekit.http.problems import ProblemError
from servicekit.uow import UnitOfWork


def _bad(field: str, detail: str, message: str) -> ProblemError:
    return ProblemError(422, detail, errors=[{"field": field, "message": message}])


async def _territory_exists(uow: UnitOfWork, territory_id: uuid.UUID, field: str) -> Any:
    row = (await uow.session.execute(select(territories).where(territories.c.id == territory_id))).first()
    if row is None:
        raise _bad(field, "Территория не найдена.", "Неизвестная территория.")
    return row


async def _authority_exists(uow: UnitOfWork, authority_id: uuid.UUID, field: str) -> Any:
    row = await repo.authority(uow.session, authority_id)
    if row is None:
        raise _bad(field, "Орган власти не найден.", "Неизвестный орган власти.")
    return row


async def save_territory(
    uow: UnitOfWork,
    *,
    territory_id: uuid.UUID | None,
    oktmo: str,
    name: str,
    level: str,
    parent_id: uuid.UUID | None,
    timezone: str,
    boundary: dict[str, Any] | None,
) -> uuid.UUID:
    """Create or replace a territory; an invalid boundary is repaired (ST_MakeValid) and must stay a polygon."""
    depth = 0
    territory_id = territory_id or uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:territory:{oktmo}")
    if parent_id is not None:
        parent = await _territory_exists(uow, parent_id, "body.parent_id")
        if territory_id in await repo.territory_chain(uow.session, parent_id):
            raise _bad("body.parent_id", "Территория не может входить сама в себя.", "Циклическая ссылка.")
        depth = parent.depth + 1
    try:
        async with uow.session.begin_nested():
            row = (
                await uow.session.execute(
                    text(
                        "INSERT INTO routing.territories "
                        "(id, oktmo, name, level, parent_id, timezone, depth, boundary) "
                        "VALUES (:id, :oktmo, :name, :level, :parent_id, :timezone, :depth, "
                        "ST_Multi(ST_CollectionExtract(ST_MakeValid("
                        "ST_SetSRID(ST_GeomFromGeoJSON(CAST(:geojson AS text)), 4326)), 3))) "
                        "ON CONFLICT (id) DO UPDATE SET oktmo = EXCLUDED.oktmo, name = EXCLUDED.name, "
                        "level = EXCLUDED.level, parent_id = EXCLUDED.parent_id, timezone = EXCLUDED.timezone, "
                        "depth = EXCLUDED.depth, boundary = EXCLUDED.boundary, updated_at = now() "
                        "RETURNING id, oktmo, name, level, parent_id, timezone, ST_AsGeoJSON(boundary, 6) AS boundary, "
                        "boundary IS NULL OR NOT ST_IsEmpty(boundary) AS usable"
                    ),
                    {
                        "id": territory_id,
                        "oktmo": oktmo,
                        "name": name,
                        "level": level,
                        "parent_id": parent_id,
                        "timezone": timezone,
                        "depth": depth,
                        "geojson": json.dumps(boundary) if boundary is not None else None,
                    },
                )
            ).one()
    except IntegrityError as error:
        raise _bad("body.oktmo", "Территория с таким ОКТМО уже есть.", "ОКТМО уже занят.") from error
    except Exception as error:  # PostGIS refuses what is not GeoJSON at all
        if "GeoJSON" in str(error) or "geometry" in str(error).lower():
            raise _bad(
                "body.boundary", "Граница не является корректной геометрией GeoJSON.", "Неверная геометрия."
            ) from error
        raise
    if not row.usable:
        raise _bad("body.boundary", "Граница должна быть многоугольником.", "Нужен Polygon или MultiPolygon.")
    boundary_out = json.loads(row.boundary) if row.boundary else None
    uow.record(published.territory_changed(row, boundary_out, datetime.now(UTC)))
    return territory_id


async def save_authority(
    uow: UnitOfWork,
    *,
    authority_id: uuid.UUID | None,
    name: str,
    kind: str,
    parent_id: uuid.UUID | None,
    territory_id: uuid.UUID | None,
    timezone: str,
    channel: str,
    email: str | None,
    calendar_subdiv: str | None,
    extra_holidays: list[date],
    extra_workdays: list[date],
    active: bool,
) -> uuid.UUID:
    if parent_id is not None:
        await _authority_exists(uow, parent_id, "body.parent_id")
        if parent_id == authority_id:
            raise _bad("body.parent_id", "Орган не может быть подчинён сам себе.", "Циклическая ссылка.")
    if territory_id is not None:
        await _territory_exists(uow, territory_id, "body.territory_id")
    if kind == "administration" and territory_id is None:
        raise _bad("body.territory_id", "Для администрации укажите её территорию.", "Обязательное поле.")
    if channel != "cabinet" and not email:
        raise _bad("body.email", "Для канала «эл. почта» укажите адрес органа.", "Обязательное поле.")
    authority_id = authority_id or uuid.uuid4()
    values = {
        "name": name,
        "kind": kind,
        "parent_id": parent_id,
        "territory_id": territory_id,
        "timezone": timezone,
        "channel": channel,
        "email": email,
        "calendar_subdiv": calendar_subdiv,
        "extra_holidays": extra_holidays,
        "extra_workdays": extra_workdays,
        "active": active,
    }
    try:
        async with uow.session.begin_nested():
            await uow.session.execute(
                insert(authorities)
                .values(id=authority_id, **values)
                .on_conflict_do_update(index_elements=[authorities.c.id], set_={**values, "updated_at": func.now()})
            )
    except IntegrityError as error:
        raise _bad(
            "body.territory_id", "У этой территории уже есть администрация.", "Администрация уже задана."
        ) from error
    row = await repo.authority(uow.session, authority_id)
    uow.record(published.authority_changed(row, datetime.now(UTC)))
    return authority_id


async def save_rule(
    uow: UnitOfWork, *, territory_id: uuid.UUID, category_code: str, authority_id: uuid.UUID, note: str | None
) -> uuid.UUID:
    await _territory_exists(uow, territory_id, "body.territory_id")
    await _authority_exists(uow, authority_id, "body.authority_id")
    statement = insert(jurisdiction_rules).values(
        id=uuid.uuid4(), territory_id=territory_id, category_code=category_code, authority_id=authority_id, note=note
    )
    result = await uow.session.execute(
        statement.on_conflict_do_update(
            constraint="jurisdiction_rules_territory_category_key",
            set_={"authority_id": authority_id, "note": note},
        ).returning(jurisdiction_rules.c.id)
    )
    rule_id: uuid.UUID = result.scalar_one()
    return rule_id


async def delete_rule(uow: UnitOfWork, rule_id: uuid.UUID) -> None:
    result = await uow.session.execute(delete(jurisdiction_rules).where(jurisdiction_rules.c.id == rule_id))
    if not getattr(result, "rowcount", 0):
        raise ProblemError(404, "Правило не найдено.")


async def save_supervisor(
    uow: UnitOfWork, *, territory_id: uuid.UUID, category_code: str, supervisor_id: uuid.UUID
) -> uuid.UUID:
    await _territory_exists(uow, territory_id, "body.territory_id")
    supervisor = await _authority_exists(uow, supervisor_id, "body.supervisor_id")
    if supervisor.kind != "supervisory":
        raise _bad(
            "body.supervisor_id", "Надзорным органом может быть только орган вида «надзорный».", "Не надзорный орган."
        )
    statement = insert(supervisors).values(
        id=uuid.uuid4(), territory_id=territory_id, category_code=category_code, supervisor_id=supervisor_id
    )
    result = await uow.session.execute(
        statement.on_conflict_do_update(
            constraint="supervisors_territory_category_key", set_={"supervisor_id": supervisor_id}
        ).returning(supervisors.c.id)
    )
    row_id: uuid.UUID = result.scalar_one()
    return row_id


async def delete_supervisor(uow: UnitOfWork, row_id: uuid.UUID) -> None:
    result = await uow.session.execute(delete(supervisors).where(supervisors.c.id == row_id))
    if not getattr(result, "rowcount", 0):
        raise ProblemError(404, "Запись не найдена.")


# --- response templates (per authority; officials of the authority manage them) -------------------------------


async def create_template(uow: UnitOfWork, *, authority_id: uuid.UUID, title: str, text_: str) -> uuid.UUID:
    template_id = uuid.uuid4()
    await uow.session.execute(
        insert(response_templates).values(id=template_id, authority_id=authority_id, title=title, text=text_)
    )
    return template_id


async def update_template(
    uow: UnitOfWork, template_id: uuid.UUID, scope: list[uuid.UUID], *, title: str, text_: str
) -> None:
    result = await uow.session.execute(
        update(response_templates)
        .where(response_templates.c.id == template_id, response_templates.c.authority_id.in_(scope))
        .values(title=title, text=text_, updated_at=func.now())
    )
    if not getattr(result, "rowcount", 0):
        raise ProblemError(404, "Шаблон не найден.")


async def delete_template(uow: UnitOfWork, template_id: uuid.UUID, scope: list[uuid.UUID]) -> None:
    result = await uow.session.execute(
        delete(response_templates).where(
            response_templates.c.id == template_id, response_templates.c.authority_id.in_(scope)
        )
    )
    if not getattr(result, "rowcount", 0):
        raise ProblemError(404, "Шаблон не найден.")
