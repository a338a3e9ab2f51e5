"""The deadline timer: reminders, overdue appeals and escalation, run periodically by the worker.

Safe with several workers and idempotent: every step first inserts a unique mark ``(appeal, kind, deadline)``
with ``ON CONFLICT DO NOTHING … RETURNING``; only the worker whose insert returned the row goes on to record
the events, in the same transaction. A concurrent worker waits on the unique index and then skips the row; a
rerun finds the marks and does nothing. An extension moves the deadline, so its marks are new ones.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routing.db import repo
from routing.db.tables import SCHEMA, appeal_events, appeals
from routing.domain.deadlines import REMINDER_BEFORE
from routing.events import published
from routing.usecases.appeals import escalation_data, supervisor_of
from servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

BATCH = 1000

_DUE = """
    SELECT a.id, a.{column} AS due_at FROM routing.appeals a
    WHERE a.status IN ({statuses}) AND a.{column} {condition}
      AND NOT EXISTS (SELECT 1 FROM routing.appeal_deadline_marks m
                      WHERE m.appeal_id = a.id AND m.kind = :kind AND m.due_at = a.{column})
    ORDER BY a.{column}
    LIMIT :batch
"""

_MARK = (
    "WITH due AS ({due}) "
    "INSERT INTO routing.appeal_deadline_marks (appeal_id, kind, due_at) SELECT id, :kind, due_at FROM due "
    "ON CONFLICT DO NOTHING RETURNING appeal_id, due_at"
)

# Reminders are set-based end to end: the marks and their timeline rows in one statement.
_REMIND = (
    "WITH due AS ({due}), marked AS ("
    " INSERT INTO routing.appeal_deadline_marks (appeal_id, kind, due_at) SELECT id, :kind, due_at FROM due"
    " ON CONFLICT DO NOTHING RETURNING appeal_id, due_at) "
    "INSERT INTO routing.appeal_events (appeal_id, kind, data) "
    "SELECT appeal_id, 'reminded', jsonb_build_object('deadline', CAST(:deadline AS text), 'due_at', due_at) "
    "FROM marked RETURNING appeal_id"
)

_STEPS = {
    # kind: (deadline column, statuses, condition)
    "reminder_registration": ("registration_due_at", "'sent'", "BETWEEN :now AND :soon"),
    "reminder_answer": ("answer_due_at", "'registered', 'in_work'", "BETWEEN :now AND :soon"),
    "overdue_registration": ("registration_due_at", "'sent'", "< :now"),
    "overdue_answer": ("answer_due_at", "'registered', 'in_work'", "< :now"),
}


@dataclass
class TimerRun:
    reminders: int = 0
    overdue: int = 0
    escalated: int = 0

    @property
    def total(self) -> int:
        return self.reminders + self.overdue + self.escalated


def _sql(template: str, kind: str) -> str:
    column, statuses, condition = _STEPS[kind]
    return template.format(due=_DUE.format(column=column, statuses=statuses, condition=condition))


def _params(kind: str, now: datetime, batch: int) -> dict[str, Any]:
    return {"kind": kind, "now": now, "soon": now + REMINDER_BEFORE, "batch": batch}


async def _remind(uow: UnitOfWork, kind: str, now: datetime, batch: int) -> int:
    params = {**_params(kind, now, batch), "deadline": kind.removeprefix("reminder_")}
    result = await uow.session.execute(text(_sql(_REMIND, kind)), params)
    return len(result.all())


async def _overdue(uow: UnitOfWork, kind: str, now: datetime, batch: int, run: TimerRun) -> None:
    deadline = kind.removeprefix("overdue_")
    result = await uow.session.execute(text(_sql(_MARK, kind)), _params(kind, now, batch))
    marked: dict[uuid.UUID, datetime] = {row.appeal_id: row.due_at for row in result.all()}
    if not marked:
        return
    ids = list(marked)
    rows = list((await uow.session.execute(repo.appeal_context_query().where(appeals.c.id.in_(ids)))).all())
    await uow.session.execute(update(appeals).where(appeals.c.id.in_(ids)).values(overdue_at=now))
    await uow.session.execute(
        insert(appeal_events),
        [
            {"appeal_id": i, "kind": "overdue", "data": {"deadline": deadline, "due_at": marked[i].isoformat()}}
            for i in ids
        ],
    )
    for row in rows:
        data = {**published.appeal_common(row, now), "deadline": deadline, "due_at": marked[row.id].isoformat()}
        uow.record(published.appeal_event("overdue", row.id, data))
    run.overdue += len(rows)
    if deadline == "answer":
        await _escalate_overdue(uow, rows, marked, now, run)


async def _escalate_overdue(
    uow: UnitOfWork, rows: list[Any], due: dict[uuid.UUID, datetime], now: datetime, run: TimerRun
) -> None:
    """An unanswered appeal past its deadline goes to the supervisor, once per deadline."""
    claimed = set(
        (
            await uow.session.execute(
                text(
                    "INSERT INTO routing.appeal_deadline_marks (appeal_id, kind, due_at) "
                    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:kinds AS text[]), CAST(:dues AS timestamptz[])) "
                    "ON CONFLICT DO NOTHING RETURNING appeal_id"
                ),
                {
                    "ids": [row.id for row in rows],
                    "kinds": ["escalated"] * len(rows),
                    "dues": [due[row.id] for row in rows],
                },
            )
        )
        .scalars()
        .all()
    )
    supervisors: dict[tuple[Any, str], Any] = {}
    escalated: list[Any] = []
    for row in rows:
        if row.id not in claimed:
            continue
        key = (row.territory_id, row.category_code)
        if key not in supervisors:
            supervisors[key] = await supervisor_of(uow, row.territory_id, row.category_code)
        supervisor = supervisors[key]
        if supervisor is None:
            log.warning("no supervisor for appeal %s (territory %s)", row.id, row.territory_id)
            continue
        data = escalation_data(row, supervisor, cause="overdue", repeat_appeal_id=None, now=now)
        uow.record(published.appeal_event("escalated", row.id, data))
        escalated.append((row.id, supervisor.id))
    if escalated:
        await uow.session.execute(
            insert(appeal_events),
            [
                {"appeal_id": i, "kind": "escalated", "data": {"cause": "overdue", "supervisor_id": str(s)}}
                for i, s in escalated
            ],
        )
        await uow.session.execute(
            update(appeals).where(appeals.c.id.in_([i for i, _ in escalated])).values(escalated_at=now)
        )
    run.escalated += len(escalated)


async def check_deadlines(uow: UnitOfWork, now: datetime | None = None, batch: int = BATCH) -> TimerRun:
    """One pass of the timer inside ``uow`` (the caller commits): at most ``batch`` appeals per step; the
    next pass takes the rest. Reminders only record the fact: the e-mail channel sends them from the marks."""
    now = now or datetime.now(UTC)
    run = TimerRun()
    for kind in ("reminder_registration", "reminder_answer"):
        run.reminders += await _remind(uow, kind, now, batch)
    for kind in ("overdue_registration", "overdue_answer"):
        await _overdue(uow, kind, now, batch, run)
    return run


def deadline_job(
    session_factory: async_sessionmaker[AsyncSession] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[AsyncSession], Awaitable[int]]:
    """The worker's housekeeping job: one timer pass in its own unit of work (so that events go to the
    outbox); returns how many steps it took, for the log."""

    async def check_appeal_deadlines(session: AsyncSession) -> int:
        factory = session_factory or async_sessionmaker(session.bind, expire_on_commit=False, autoflush=False)
        async with UnitOfWork(factory, SCHEMA) as uow:
            run = await check_deadlines(uow, now=clock())
            await uow.commit()
        return run.total

    return check_appeal_deadlines
