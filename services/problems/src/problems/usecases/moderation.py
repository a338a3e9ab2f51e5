"""Moderators' work: the queue, approve, reject with a reason, edit (the original is kept), merge duplicates,
hide comments. Every decision is recorded in ``moderation_records``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from problems.db import catalog as catalog_db
from problems.db import comments as comments_db
from problems.db import problems as db
from problems.domain.reports import FieldErrors, clean_extra
from problems.domain.statuses import CLOSED_STATUSES, status_name
from problems.settings import ProblemsSettings
from problems.usecases.common import change_status, full_view, not_found, publish_event, summary
from problems.usecases.subscriptions import move_subscriptions
from servicekit.http.pagination import Page, PageRequest, make_page
from servicekit.http.problems import ProblemError
from servicekit.security import Principal
from servicekit.uow import UnitOfWork


def _moderator(principal: Principal) -> uuid.UUID | None:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        return None


async def _locked(uow: UnitOfWork, problem_id: uuid.UUID) -> Any:
    row = await db.lock_problem(uow.session, problem_id)
    if row is None:
        raise not_found()
    return row


def _snapshot(row: Any) -> dict[str, Any]:
    return {
        "title": row.title,
        "description": row.description,
        "address": row.address,
        "extra": dict(row.extra or {}),
        "category_code": row.category_code,
        "status": row.status,
    }


async def queue(uow: UnitOfWork, settings: ProblemsSettings, page: PageRequest) -> Page[dict[str, Any]]:
    after = (datetime.fromisoformat(page.after[0]), uuid.UUID(page.after[1])) if page.after else None
    rows = await db.moderation_queue(uow.session, after=after, limit=page.limit + 1)
    items = []
    for row in rows:
        item = summary(row, settings, await db.photo_list(uow.session, row.id))
        item["original"] = row.original
        items.append(item)
    return make_page(items, page, lambda item: (item["reported_at"], item["id"]))


async def approve(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal
) -> dict[str, Any]:
    row = await _locked(uow, problem_id)
    if row.status != "moderation":
        raise ProblemError(409, f"Проблема не ждёт модерации: {status_name(row.status).lower()}.")
    now = datetime.now(UTC)
    fresh = await change_status(
        uow, row, "published", at=now, text="Проблема опубликована после модерации", values={"published_at": now}
    )
    await db.insert_moderation(
        uow.session, {"problem_id": row.id, "moderator_id": _moderator(principal), "action": "approve"}
    )
    await publish_event(uow, fresh, settings)
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


async def reject(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal, reason: str
) -> dict[str, Any]:
    row = await _locked(uow, problem_id)
    if row.status != "moderation":
        raise ProblemError(409, f"Проблема не ждёт модерации: {status_name(row.status).lower()}.")
    now = datetime.now(UTC)
    fresh = await change_status(
        uow,
        row,
        "rejected",
        at=now,
        text=f"Отклонена модератором: {reason}",
        reason=reason,
        values={"moderation_reason": reason},
    )
    await db.insert_moderation(
        uow.session,
        {"problem_id": row.id, "moderator_id": _moderator(principal), "action": "reject", "reason": reason},
    )
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


async def edit(
    uow: UnitOfWork,
    settings: ProblemsSettings,
    problem_id: uuid.UUID,
    principal: Principal,
    changes: dict[str, Any],
    reason: str | None,
) -> dict[str, Any]:
    """Correct a report (typos, personal data in the text, wrong category); the original stays in
    ``problems.original`` (first edit) and every edit's before/after in ``moderation_records``."""
    row = await _locked(uow, problem_id)
    errors = FieldErrors()
    values = dict(changes)
    category_id = row.category_id
    if "category" in values:
        category = await catalog_db.category_by_code(uow.session, values.pop("category"))
        if category is None or category.map_id != row.map_id:
            errors.add("body.category", "Нет такой категории на карте этой проблемы.")
        else:
            category_id = category.id
            values["category_id"] = category.id
            values["private"] = category.private
    if "extra" in values:
        category = await catalog_db.category_by_id(uow.session, category_id)
        values["extra"] = clean_extra(list(category.attributes or []) if category else [], values["extra"], errors)
    if errors:
        fields = ", ".join(e["field"] for e in errors.errors)
        raise ProblemError(422, f"Проверьте поля: {fields}.", title="Validation failed", errors=errors.errors)
    before = _snapshot(row)
    if row.original is None:
        values["original"] = before
    await db.update_problem(uow.session, row.id, values)
    fresh = await db.problem_view(uow.session, row.id)
    await db.insert_moderation(
        uow.session,
        {
            "problem_id": row.id,
            "moderator_id": _moderator(principal),
            "action": "edit",
            "reason": reason,
            "before": before,
            "after": _snapshot(fresh),
        },
    )
    body = await full_view(uow.session, fresh, settings, principal)
    body["original"] = fresh.original
    await uow.commit()
    return body


async def merge(
    uow: UnitOfWork,
    settings: ProblemsSettings,
    duplicate_id: uuid.UUID,
    survivor_id: uuid.UUID,
    principal: Principal,
    reason: str | None,
) -> dict[str, Any]:
    """Close the duplicate as "merged" into the survivor; its supports (and its author, as a supporter) and
    its subscribers move to the survivor."""
    if duplicate_id == survivor_id:
        raise ProblemError(
            422,
            "Нельзя объединить проблему с самой собой.",
            title="Validation failed",
            errors=[{"field": "body.into", "message": "Укажите другую проблему."}],
        )
    first, second = sorted([duplicate_id, survivor_id])  # lock in a fixed order: no deadlock between merges
    rows = {first: await _locked(uow, first), second: await _locked(uow, second)}
    duplicate, survivor = rows[duplicate_id], rows[survivor_id]
    if duplicate.status in CLOSED_STATUSES:
        raise ProblemError(409, f"Дубликат уже закрыт: {status_name(duplicate.status).lower()}.")
    if survivor.status in CLOSED_STATUSES or survivor.status == "moderation":
        raise ProblemError(409, "Объединять можно только с опубликованной открытой проблемой.")
    if duplicate.map_id != survivor.map_id:
        raise ProblemError(409, "Проблемы на разных картах объединить нельзя.")
    moved_supports = await db.move_supports(uow.session, duplicate.id, survivor.id)
    moved_subscriptions = await move_subscriptions(uow.session, from_problem_id=duplicate.id, to_problem_id=survivor.id)
    now = datetime.now(UTC)
    await change_status(
        uow,
        duplicate,
        "merged",
        at=now,
        text=f"Объединена с проблемой «{survivor.title}»",
        reason=reason,
        values={"merged_into": survivor.id},
    )
    await db.insert_moderation(
        uow.session,
        {
            "problem_id": duplicate.id,
            "moderator_id": _moderator(principal),
            "action": "merge",
            "reason": reason,
            "after": {
                "merged_into": str(survivor.id),
                "supports_moved": moved_supports,
                "subscriptions_moved": moved_subscriptions,
            },
        },
    )
    fresh = await db.problem_view(uow.session, survivor.id)
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


async def flagged_comments(uow: UnitOfWork, page: PageRequest) -> Page[dict[str, Any]]:
    from problems.usecases.comments import comment_out

    after = (int(page.after[0]), uuid.UUID(page.after[1])) if page.after else None
    rows = await comments_db.flagged_comments(uow.session, after=after, limit=page.limit + 1)
    items = [comment_out(row, staff=True) for row in rows]
    return make_page(items, page, lambda item: (item["flags_count"], item["id"]))


async def hide_comment(
    uow: UnitOfWork, comment_id: uuid.UUID, principal: Principal, *, hidden: bool, reason: str | None
) -> dict[str, Any]:
    from problems.usecases.comments import comment_out

    row = await comments_db.comment(uow.session, comment_id, for_update=True)
    if row is None:
        raise ProblemError(404, "Комментарий не найден.", title="Not found")
    await comments_db.update_comment(
        uow.session,
        comment_id,
        {"hidden": hidden, "hidden_reason": reason if hidden else None, "hidden_by": _moderator(principal)},
    )
    await comments_db.recount_comments(uow.session, row.problem_id)
    await db.insert_moderation(
        uow.session,
        {
            "problem_id": row.problem_id,
            "moderator_id": _moderator(principal),
            "action": "hide_comment" if hidden else "show_comment",
            "reason": reason,
            "after": {"comment_id": str(comment_id)},
        },
    )
    fresh = await comments_db.comment(uow.session, comment_id)
    await uow.commit()
    return comment_out(fresh, staff=True)
