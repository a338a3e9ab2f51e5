"""Reporting a problem, looking for duplicates first, reading one, and supporting it ("у меня тоже")."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from problems.db import catalog as catalog_db
from problems.db import problems as db
from problems.domain.reports import FieldErrors, clean_extra, in_russia_extent
from problems.domain.statuses import OPEN_FOR_DUPLICATES, status_name
from problems.events import published
from problems.settings import ProblemsSettings
from problems.usecases import catalog_cache
from problems.usecases.common import (
    FIRST_STEP,
    full_view,
    locked_problem,
    publish_event,
    summary,
    user_id,
    visible_problem,
)
from servicekit.http import idempotency
from servicekit.http.problems import ProblemError
from servicekit.security import Principal
from servicekit.uow import UnitOfWork


@dataclass(frozen=True)
class Applicant:
    full_name: str
    email: str
    postal_address: str | None = None


@dataclass(frozen=True)
class ReportDraft:
    map_code: str
    category_code: str
    lon: float
    lat: float
    address: str
    title: str
    description: str
    extra: dict[str, Any]
    photo_ids: list[uuid.UUID]
    anonymous: bool
    applicant: Applicant | None
    display_name: str | None


def short_name(full_name: str) -> str:
    """ "Иван Петров" → "Иван П." (what others see of an author)."""
    parts = full_name.split()
    if len(parts) >= 2:
        return f"{parts[0]} {parts[1][0]}."
    return parts[0] if parts else ""


def _invalid(errors: FieldErrors) -> ProblemError:
    fields = ", ".join(e["field"] for e in errors.errors)
    return ProblemError(422, f"Проверьте поля: {fields}.", title="Validation failed", errors=errors.errors)


def _is_partner(principal: Principal) -> bool:
    return "citizen" not in principal.roles and principal.has_scope("problems:write")


def check_reporter(principal: Principal) -> None:
    if "citizen" not in principal.roles and not principal.has_scope("problems:write"):
        raise ProblemError(403, "Сообщать о проблемах могут жители, вошедшие в систему.")


async def report(
    uow: UnitOfWork,
    settings: ProblemsSettings,
    principal: Principal,
    draft: ReportDraft,
    *,
    key: str | None,
    fingerprint: str,
) -> tuple[int, dict[str, Any]]:
    """Create a problem; returns (HTTP status, body). A retry with the same Idempotency-Key replays."""
    check_reporter(principal)
    partner = _is_partner(principal)
    scope = f"problems.report:{principal.subject}"
    if key is not None:
        stored = await idempotency.claim(uow.session, uow.tables, scope=scope, key=key, request_fingerprint=fingerprint)
        if stored is not None:
            return stored.status_code, stored.body

    errors = FieldErrors()
    ttl = settings.catalog_cache_seconds
    map_row = await catalog_cache.map_by_code(uow.session, draft.map_code, ttl=ttl)
    category = await catalog_cache.category_by_code(uow.session, draft.category_code, ttl=ttl)
    if map_row is None:
        errors.add("body.map", "Нет такой карты.")
    elif map_row.volunteers_only and "volunteer" not in principal.roles:
        raise ProblemError(403, "На карту добровольчества могут писать только добровольцы (вход через DOBRO.RU).")
    if category is None or not category.active:
        errors.add("body.category", "Нет такой категории.")
    elif map_row is not None and category.map_id != map_row.id:
        errors.add("body.category", "Эта категория относится к другой карте.")
    if not in_russia_extent(draft.lon, draft.lat):
        errors.add("body.point", "Точка должна находиться на территории России.")
    if draft.anonymous and category is not None and not category.anonymous_allowed:
        errors.add("body.anonymous", "В этой категории нельзя сообщать анонимно.")
    extra = clean_extra(list(category.attributes or []), draft.extra, errors) if category is not None else {}
    photo_ids = list(dict.fromkeys(draft.photo_ids))
    if photo_ids:
        claimable = set(await db.claimable_photos(uow.session, photo_ids, principal.subject))
        if len(claimable) != len(photo_ids):
            errors.add("body.photo_ids", "Некоторые фотографии не найдены или уже прикреплены к другой проблеме.")
    if errors or map_row is None or category is None:
        raise _invalid(errors)

    now = datetime.now(UTC)
    author = None if partner else user_id(principal)
    display_name, applicant_values = None, None
    if not draft.anonymous:
        applicant = draft.applicant
        display = draft.display_name or (short_name(applicant.full_name) if applicant else None)
        if applicant is not None or display:
            display_name = display
            applicant_values = {
                "user_id": author,
                "display_name": display,
                "full_name": applicant.full_name if applicant else None,
                "email": applicant.email if applicant else None,
                "postal_address": applicant.postal_address if applicant else None,
            }
    inserted = await db.report_problem(
        uow.session,
        {
            "id": uuid.uuid4(),
            "map_id": map_row.id,
            "category_id": category.id,
            "private": category.private,
            "address": draft.address,
            "title": draft.title,
            "description": draft.description,
            "extra": extra,
            "author_id": author,
            "anonymous": draft.anonymous,
            "reported_by_client": principal.client_id if partner else None,
            "reported_at": now,
            "updated_at": now,
        },
        draft.lon,
        draft.lat,
        map_premoderation=map_row.premoderation,
        first_step=FIRST_STEP,
        applicant=applicant_values,
    )
    problem_id, premoderation = inserted.id, inserted.status == "moderation"
    if photo_ids:
        await db.attach_photos(uow.session, problem_id, photo_ids)
    row = SimpleNamespace(
        **inserted._mapping,
        map_code=map_row.code,
        category_code=category.code,
        category_name=category.name,
        author_display_name=display_name,
    )
    photos = [SimpleNamespace(id=photo_id) for photo_id in photo_ids]
    uow.record(published.reported(row))
    if not premoderation:
        applicant = draft.applicant
        contact = None
        if applicant is not None and not draft.anonymous:
            contact = {
                "full_name": applicant.full_name,
                "email": applicant.email,
                "postal_address": applicant.postal_address,
            }
        await publish_event(uow, row, settings, fresh=(photos, contact))
    body = await full_view(uow.session, row, settings, principal, fresh=photos)
    if key is not None:
        await idempotency.complete(uow.session, uow.tables, scope=scope, key=key, status_code=201, body=body)
    await uow.commit()
    return 201, body


async def get_problem(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal | None
) -> dict[str, Any]:
    row = await visible_problem(uow.session, problem_id, principal)
    return await full_view(uow.session, row, settings, principal)


async def find_duplicates(
    uow: UnitOfWork, settings: ProblemsSettings, *, category_code: str, lon: float, lat: float
) -> dict[str, Any]:
    category = await catalog_db.category_by_code(uow.session, category_code)
    if category is None or not category.active:
        raise ProblemError(
            422,
            "Нет такой категории.",
            title="Validation failed",
            errors=[{"field": "query.category", "message": "Нет такой категории."}],
        )
    rows = await db.duplicates(
        uow.session,
        category_id=category.id,
        lon=lon,
        lat=lat,
        radius_m=category.duplicate_radius_m,
        statuses=sorted(OPEN_FOR_DUPLICATES),
    )
    items = []
    for row in rows:
        if row.private:
            continue
        item = summary(row, settings, await db.photo_list(uow.session, row.id))
        item["distance_m"] = round(float(row.distance_m), 1)
        items.append(item)
    return {"radius_m": category.duplicate_radius_m, "items": items}


async def support(uow: UnitOfWork, problem_id: uuid.UUID, principal: Principal) -> tuple[bool, int]:
    """One support per user; True when this call added it. Closed or hidden problems cannot be supported."""
    who = user_id(principal)
    row = await locked_problem(uow.session, problem_id, principal)
    if row.status in ("moderation", "rejected", "withdrawn", "merged"):
        raise ProblemError(409, f"Эту проблему нельзя поддержать: {status_name(row.status).lower()}.")
    added = await db.add_support(uow.session, row.id, who)
    fresh = await db.problem_view(uow.session, row.id)
    await uow.commit()
    return added, int(fresh.supports_count)


async def unsupport(uow: UnitOfWork, problem_id: uuid.UUID, principal: Principal) -> int:
    who = user_id(principal)
    row = await locked_problem(uow.session, problem_id, principal)
    await db.remove_support(uow.session, row.id, who)
    fresh = await db.problem_view(uow.session, row.id)
    await uow.commit()
    return int(fresh.supports_count)
