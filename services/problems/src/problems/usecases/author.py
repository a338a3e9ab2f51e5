"""What the author does with their own report: edit before moderation, withdraw, anonymise, and after an
official answer confirm it, dispute it (reopen) or rate it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from problems.db import catalog as catalog_db
from problems.db import personal_data as pd_db
from problems.db import problems as db
from problems.domain.reports import FieldErrors, clean_extra
from problems.domain.statuses import CLOSED_STATUSES, status_after_dispute, status_after_window, status_name
from problems.events import published
from problems.settings import ProblemsSettings
from problems.usecases.common import change_status, full_view, is_author, locked_problem
from servicekit.events import CloudEvent
from servicekit.http.problems import ProblemError
from servicekit.security import Principal
from servicekit.tables import kit_tables
from servicekit.uow import UnitOfWork


async def _own(uow: UnitOfWork, problem_id: uuid.UUID, principal: Principal) -> Any:
    row = await locked_problem(uow.session, problem_id, principal)
    if not is_author(principal, row):
        raise ProblemError(403, "Это может сделать только автор сообщения.")
    return row


async def edit(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal, changes: dict[str, Any]
) -> dict[str, Any]:
    """Before a moderator has looked at it (status "moderation"), the author may correct the text and fields."""
    row = await _own(uow, problem_id, principal)
    if row.status != "moderation":
        raise ProblemError(409, "Сообщение уже прошло модерацию: изменить его нельзя, но можно добавить комментарий.")
    if "extra" in changes:
        errors = FieldErrors()
        category = await catalog_db.category_by_id(uow.session, row.category_id)
        changes["extra"] = clean_extra(list(category.attributes or []) if category else [], changes["extra"], errors)
        if errors:
            fields = ", ".join(e["field"] for e in errors.errors)
            raise ProblemError(422, f"Проверьте поля: {fields}.", title="Validation failed", errors=errors.errors)
    if changes:
        await db.update_problem(uow.session, row.id, changes)
    fresh = await db.problem_view(uow.session, row.id)
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


async def withdraw(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal, reason: str | None
) -> dict[str, Any]:
    row = await _own(uow, problem_id, principal)
    if row.status in CLOSED_STATUSES:
        raise ProblemError(409, f"Сообщение уже закрыто: {status_name(row.status).lower()}.")
    now = datetime.now(UTC)
    text = "Автор отозвал сообщение" + (f": {reason}" if reason else "")
    fresh = await change_status(uow, row, "withdrawn", at=now, text=text, reason=reason)
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


async def anonymise(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal
) -> dict[str, Any]:
    """Hide the author's name on this report for good (the author keeps the right to confirm and rate)."""
    row = await _own(uow, problem_id, principal)
    await pd_db.anonymise_problem(uow.session, row.id)
    fresh = await db.problem_view(uow.session, row.id)
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


def _window_open(row: Any, now: datetime) -> None:
    if row.status != "answered" or row.can_confirm_until is None:
        raise ProblemError(409, "Подтвердить или оспорить можно только полученный ответ.")
    if now > row.can_confirm_until:
        raise ProblemError(409, "Срок, чтобы подтвердить или оспорить ответ, истёк.")


async def confirm(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal
) -> dict[str, Any]:
    row = await _own(uow, problem_id, principal)
    now = datetime.now(UTC)
    _window_open(row, now)
    fresh = await change_status(
        uow,
        row,
        "solved",
        at=now,
        text="Автор подтвердил, что проблема решена",
        values={"confirmed_at": now, "can_confirm_until": None},
    )
    uow.record(published.confirmed(fresh, at=now))
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


async def dispute(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal, reason: str
) -> dict[str, Any]:
    row = await _own(uow, problem_id, principal)
    now = datetime.now(UTC)
    _window_open(row, now)
    to_status = status_after_dispute(row.appeal_id is not None)
    fresh = await change_status(
        uow,
        row,
        to_status,
        at=now,
        text=f"Автор оспорил ответ: {reason}",
        reason=reason,
        values={"disputed_at": now, "can_confirm_until": None, "routing_event_at": now},
    )
    uow.record(published.reopened(fresh, at=now, reason=reason))
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


async def rate(
    uow: UnitOfWork, settings: ProblemsSettings, problem_id: uuid.UUID, principal: Principal, rating: int
) -> dict[str, Any]:
    row = await _own(uow, problem_id, principal)
    if row.answered_at is None:
        raise ProblemError(409, "Оценить можно только после ответа ведомства.")
    if row.rating is not None:
        raise ProblemError(409, "Ответ уже оценён.")
    now = datetime.now(UTC)
    await db.update_problem(uow.session, row.id, {"rating": rating, "rated_at": now})
    fresh = await db.problem_view(uow.session, row.id)
    uow.record(published.rated(fresh, at=now, rating=rating))
    body = await full_view(uow.session, fresh, settings, principal)
    await uow.commit()
    return body


def close_expired_windows(settings: ProblemsSettings):  # type: ignore[no-untyped-def]
    """A housekeeping job: answered problems whose author neither confirmed nor disputed in time are closed
    by the authority's word (solved if it said so, not solved otherwise), with the status event."""

    async def close_unconfirmed_answers(session: AsyncSession) -> int:
        uow = _HousekeepingSink(session, settings.db_schema)
        now = datetime.now(UTC)
        rows = await db.answered_past_window(session, now)
        for row in rows:
            answers = await db.answer_list(session, row.id)
            to_status = status_after_window(answers[-1].outcome if answers else None)
            await change_status(
                uow,
                row,
                to_status,
                at=now,
                text="Срок подтверждения ответа истёк: " + status_name(to_status).lower(),
                values={"can_confirm_until": None},
            )
        await uow.flush_events()
        return len(rows)

    return close_unconfirmed_answers


class _HousekeepingSink:
    """The session of a housekeeping transaction (the runner commits it) and the events it records, written
    to the outbox in that same transaction by :meth:`flush_events`."""

    def __init__(self, session: AsyncSession, schema: str) -> None:
        self.session = session
        self._outbox = kit_tables(schema).outbox
        self._events: list[CloudEvent] = []

    def record(self, event: CloudEvent) -> None:
        self._events.append(event)

    async def flush_events(self) -> None:
        if self._events:
            rows = [
                {"event_id": e.id, "routing_key": e.routing_key, "body": e.model_dump(mode="json"), "headers": {}}
                for e in self._events
            ]
            await self.session.execute(insert(self._outbox), rows)
            self._events = []
