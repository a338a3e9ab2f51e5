"""Thematic maps and category trees: public reading and the operators' admin."""

from __future__ import annotations

import uuid
from typing import Any

from problems.db import catalog as db
from problems.domain.reports import FieldErrors, check_attribute_definitions
from problems.usecases import catalog_cache
from servicekit.http.pagination import Page, PageRequest, make_page
from servicekit.http.problems import ProblemError
from servicekit.uow import UnitOfWork


def map_out(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "volunteers_only": row.volunteers_only,
        "premoderation": row.premoderation,
        "position": row.position,
    }


def category_out(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "code": row.code,
        "map_code": row.map_code,
        "name": row.name,
        "description": row.description,
        "parent_id": str(row.parent_id) if row.parent_id else None,
        "parent_code": row.parent_code,
        "icon": row.icon,
        "anonymous_allowed": row.anonymous_allowed,
        "private": row.private,
        "duplicate_radius_m": row.duplicate_radius_m,
        "keywords": list(row.keywords or []),
        "attributes": sorted(row.attributes or [], key=lambda a: (a.get("order", 0), a.get("code", ""))),
        "position": row.position,
        "active": row.active,
    }


def _invalid(errors: FieldErrors) -> ProblemError:
    fields = ", ".join(e["field"] for e in errors.errors)
    return ProblemError(422, f"Проверьте поля: {fields}.", title="Validation failed", errors=errors.errors)


def _conflict(detail: str) -> ProblemError:
    return ProblemError(409, detail, title="Conflict")


async def list_maps(uow: UnitOfWork, page: PageRequest) -> Page[dict[str, Any]]:
    after = (int(page.after[0]), str(page.after[1])) if page.after else None
    rows = await db.list_maps(uow.session, after=after, limit=page.limit + 1)
    result = make_page([map_out(r) for r in rows], page, lambda m: (m["position"], m["code"]))
    return result


async def list_categories(
    uow: UnitOfWork, page: PageRequest, *, map_code: str | None, include_inactive: bool = False
) -> Page[dict[str, Any]]:
    after = (int(page.after[0]), str(page.after[1])) if page.after else None
    rows = await db.list_categories(
        uow.session, map_code=map_code, after=after, limit=page.limit + 1, include_inactive=include_inactive
    )
    return make_page([category_out(r) for r in rows], page, lambda c: (c["position"], c["code"]))


async def get_category(uow: UnitOfWork, code: str, *, include_inactive: bool = False) -> dict[str, Any]:
    row = await db.category_by_code(uow.session, code)
    if row is None or (not row.active and not include_inactive):
        raise ProblemError(404, "Категория не найдена.", title="Not found")
    return category_out(row)


async def create_map(uow: UnitOfWork, values: dict[str, Any]) -> dict[str, Any]:
    if not await db.insert_map(uow.session, {"id": uuid.uuid4(), **values}):
        raise _conflict("Карта с таким кодом уже есть.")
    row = await db.map_by_code(uow.session, values["code"])
    await uow.commit()
    catalog_cache.invalidate()
    return map_out(row)


async def update_map(uow: UnitOfWork, code: str, values: dict[str, Any]) -> dict[str, Any]:
    if values and not await db.update_map(uow.session, code, values):
        raise ProblemError(404, "Карта не найдена.", title="Not found")
    row = await db.map_by_code(uow.session, code)
    if row is None:
        raise ProblemError(404, "Карта не найдена.", title="Not found")
    await uow.commit()
    catalog_cache.invalidate()
    return map_out(row)


async def delete_map(uow: UnitOfWork, code: str) -> None:
    row = await db.map_by_code(uow.session, code)
    if row is None:
        raise ProblemError(404, "Карта не найдена.", title="Not found")
    if await db.map_in_use(uow.session, row.id):
        raise _conflict("На карте есть категории: сначала удалите или перенесите их.")
    await db.delete_map(uow.session, row.id)
    await uow.commit()
    catalog_cache.invalidate()


async def _resolve(uow: UnitOfWork, values: dict[str, Any], errors: FieldErrors, map_id: uuid.UUID | None) -> None:
    """Turn ``map`` and ``parent`` codes into ids; check attributes."""
    if "map" in values:
        map_row = await db.map_by_code(uow.session, values.pop("map"))
        if map_row is None:
            errors.add("body.map", "Нет такой карты.")
        else:
            values["map_id"] = map_row.id
            map_id = map_row.id
    if "parent" in values:
        parent_code = values.pop("parent")
        if parent_code is None:
            values["parent_id"] = None
        else:
            parent = await db.category_by_code(uow.session, parent_code)
            if parent is None:
                errors.add("body.parent", "Нет такой родительской категории.")
            elif map_id is not None and parent.map_id != map_id:
                errors.add("body.parent", "Родительская категория — на другой карте.")
            else:
                values["parent_id"] = parent.id
    if "attributes" in values:
        check_attribute_definitions(values["attributes"], errors, "body.attributes")


async def create_category(uow: UnitOfWork, values: dict[str, Any]) -> dict[str, Any]:
    errors = FieldErrors()
    await _resolve(uow, values, errors, None)
    if errors:
        raise _invalid(errors)
    if not await db.insert_category(uow.session, {"id": uuid.uuid4(), **values}):
        raise _conflict("Категория с таким кодом уже есть.")
    row = await db.category_by_code(uow.session, values["code"])
    await uow.commit()
    catalog_cache.invalidate()
    return category_out(row)


async def update_category(uow: UnitOfWork, code: str, values: dict[str, Any]) -> dict[str, Any]:
    row = await db.category_by_code(uow.session, code)
    if row is None:
        raise ProblemError(404, "Категория не найдена.", title="Not found")
    errors = FieldErrors()
    await _resolve(uow, values, errors, row.map_id)
    if values.get("parent_id") == row.id:
        errors.add("body.parent", "Категория не может быть родителем самой себя.")
    if errors:
        raise _invalid(errors)
    if values:
        await db.update_category(uow.session, row.id, values)
    fresh = await db.category_by_code(uow.session, code)
    await uow.commit()
    catalog_cache.invalidate()
    return category_out(fresh)


async def delete_category(uow: UnitOfWork, code: str) -> bool:
    """Delete an unused category; one with problems or children is deactivated instead. True if deleted."""
    row = await db.category_by_code(uow.session, code)
    if row is None:
        raise ProblemError(404, "Категория не найдена.", title="Not found")
    if await db.category_in_use(uow.session, row.id):
        await db.update_category(uow.session, row.id, {"active": False})
        deleted = False
    else:
        await db.delete_category(uow.session, row.id)
        deleted = True
    await uow.commit()
    catalog_cache.invalidate()
    return deleted


async def set_territory_premoderation(uow: UnitOfWork, territory_id: uuid.UUID, premoderation: bool) -> dict[str, Any]:
    from problems.db import territories as territories_db

    if not await territories_db.set_premoderation(uow.session, territory_id, premoderation):
        raise ProblemError(404, "Территория не найдена.", title="Not found")
    row = await territories_db.territory(uow.session, territory_id)
    await uow.commit()
    catalog_cache.invalidate()
    return {"id": row.id, "oktmo": row.oktmo, "name": row.name, "level": row.level, "premoderation": row.premoderation}
