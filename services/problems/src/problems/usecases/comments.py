"""Comments under a problem: write, read (paginated), edit one's own, flag; moderators hide (moderation.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from problems.db import comments as db
from problems.usecases.common import is_staff, locked_problem, user_id, visible_problem
from servicekit.http import idempotency
from servicekit.http.pagination import Page, PageRequest, make_page
from servicekit.http.problems import ProblemError
from servicekit.security import Principal
from servicekit.uow import UnitOfWork

EDIT_WINDOW_HOURS = 24
"""An author may edit a comment for this long after writing it."""


def comment_out(row: Any, *, staff: bool = False, viewer: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": str(row.id),
        "problem_id": str(row.problem_id),
        "author": {"display_name": row.author_name} if row.author_name else None,
        "body": row.body,
        "created_at": row.created_at.isoformat(),
        "edited_at": row.edited_at.isoformat() if row.edited_at else None,
        "hidden": row.hidden,
        "is_mine": viewer is not None and row.author_id is not None and str(row.author_id) == viewer,
    }
    if staff:
        out["flags_count"] = row.flags_count
        out["hidden_reason"] = row.hidden_reason
    return out


async def create(
    uow: UnitOfWork,
    problem_id: uuid.UUID,
    principal: Principal,
    *,
    body: str,
    display_name: str | None,
    key: str | None,
    fingerprint: str,
) -> tuple[int, dict[str, Any]]:
    author = user_id(principal)
    scope = f"problems.comment:{principal.subject}"
    if key is not None:
        stored = await idempotency.claim(uow.session, uow.tables, scope=scope, key=key, request_fingerprint=fingerprint)
        if stored is not None:
            return stored.status_code, stored.body
    problem = await locked_problem(uow.session, problem_id, principal)
    if problem.status in ("rejected", "withdrawn", "merged"):
        raise ProblemError(409, "Обсуждение этой проблемы закрыто.")
    comment_id = uuid.uuid4()
    await db.insert_comment(
        uow.session,
        {
            "id": comment_id,
            "problem_id": problem.id,
            "author_id": author,
            "author_name": display_name or "Житель",
            "body": body,
        },
    )
    row = await db.comment(uow.session, comment_id)
    out = comment_out(row, viewer=principal.subject)
    if key is not None:
        await idempotency.complete(uow.session, uow.tables, scope=scope, key=key, status_code=201, body=out)
    await uow.commit()
    return 201, out


async def list_for_problem(
    uow: UnitOfWork, problem_id: uuid.UUID, principal: Principal | None, page: PageRequest
) -> Page[dict[str, Any]]:
    await visible_problem(uow.session, problem_id, principal)
    staff = is_staff(principal)
    after = (datetime.fromisoformat(page.after[0]), uuid.UUID(page.after[1])) if page.after else None
    rows = await db.list_comments(uow.session, problem_id, after=after, limit=page.limit + 1, include_hidden=staff)
    viewer = principal.subject if principal else None
    items = [comment_out(row, staff=staff, viewer=viewer) for row in rows]
    return make_page(items, page, lambda item: (item["created_at"], item["id"]))


async def edit(uow: UnitOfWork, comment_id: uuid.UUID, principal: Principal, body: str) -> dict[str, Any]:
    row = await db.comment(uow.session, comment_id, for_update=True)
    if row is None or (row.hidden and not is_staff(principal)):
        raise ProblemError(404, "Комментарий не найден.", title="Not found")
    if row.author_id is None or str(row.author_id) != principal.subject:
        raise ProblemError(403, "Изменить комментарий может только его автор.")
    if (datetime.now(UTC) - row.created_at).total_seconds() > EDIT_WINDOW_HOURS * 3600:
        raise ProblemError(409, "Комментарий можно изменить только в течение суток после публикации.")
    await db.update_comment(uow.session, comment_id, {"body": body, "edited_at": datetime.now(UTC)})
    fresh = await db.comment(uow.session, comment_id)
    await uow.commit()
    return comment_out(fresh, viewer=principal.subject)


async def flag(uow: UnitOfWork, comment_id: uuid.UUID, principal: Principal, reason: str) -> bool:
    """One flag per user and comment; True when this call added it."""
    who = user_id(principal)
    row = await db.comment(uow.session, comment_id)
    if row is None or row.hidden:
        raise ProblemError(404, "Комментарий не найден.", title="Not found")
    added = await db.add_flag(uow.session, comment_id, who, reason)
    await uow.commit()
    return added
