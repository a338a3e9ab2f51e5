"""The life of a problem after publication: routing's appeal events move its status, authority, deadline and
answers; territories arrive from routing; erased users are anonymised."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict

from problems.db import personal_data as pd_db
from problems.db import problems as db
from problems.db import territories as territories_db
from problems.domain.statuses import routing_may_move, routing_step
from problems.settings import ProblemsSettings
from problems.usecases.common import change_status
from servicekit.events import CloudEvent
from servicekit.uow import UnitOfWork


class AppealEvent(BaseModel):
    """The fields of routing.appeal.*.v1 we read."""

    model_config = ConfigDict(extra="ignore")

    appeal_id: uuid.UUID
    problem_id: uuid.UUID
    authority_id: uuid.UUID
    authority_name: str
    occurred_at: datetime
    answer_due_at: datetime | None = None
    to_authority_id: uuid.UUID | None = None
    to_authority_name: str | None = None
    answer_id: uuid.UUID | None = None
    text: str | None = None
    outcome: str | None = None
    planned_for: str | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None
    on_time: bool | None = None
    attachments: list[Any] = []


class TerritoryChanged(BaseModel):
    model_config = ConfigDict(extra="ignore")

    territory_id: uuid.UUID
    oktmo: str
    name: str
    level: str
    parent_id: uuid.UUID | None
    timezone: str
    boundary: dict[str, Any] | None = None
    changed_at: datetime


class UserErased(BaseModel):
    model_config = ConfigDict(extra="ignore")

    user_id: uuid.UUID
    erased_at: datetime


async def apply_appeal_event(uow: UnitOfWork, settings: ProblemsSettings, event: CloudEvent) -> None:
    verb = event.routing_key.split(".")[2]
    data = AppealEvent.model_validate(event.data)
    row = await db.lock_problem(uow.session, data.problem_id)
    if row is None:
        return  # not ours (or deleted): nothing to show
    step = routing_step(verb, event.data)
    if step is None:
        return
    authority_id, authority_name = data.authority_id, data.authority_name
    if verb == "forwarded" and data.to_authority_id is not None:
        authority_id, authority_name = data.to_authority_id, data.to_authority_name or authority_name
    values: dict[str, Any] = {"appeal_id": data.appeal_id}
    moves = routing_may_move(row.status, step.status, last_applied=row.routing_event_at, occurred_at=data.occurred_at)
    latest = row.routing_event_at is None or data.occurred_at >= row.routing_event_at
    if latest:
        values.update(authority_id=authority_id, authority_name=authority_name, routing_event_at=data.occurred_at)
    if data.answer_due_at is not None and (verb == "registered" or verb == "extended"):
        values["answer_due_at"] = data.answer_due_at
    if verb == "answered" and data.answer_id is not None and data.text is not None:
        answered_at = data.answered_at or data.occurred_at
        await db.insert_answer(
            uow.session,
            {
                "id": data.answer_id,
                "problem_id": row.id,
                "appeal_id": data.appeal_id,
                "authority_id": data.authority_id,
                "authority_name": data.authority_name,
                "text": data.text,
                "outcome": data.outcome or "solved",
                "planned_for": datetime.fromisoformat(data.planned_for).date() if data.planned_for else None,
                "answered_at": answered_at,
                "answered_by": data.answered_by,
                "on_time": data.on_time,
                "attachments": data.attachments,
            },
        )
        values["answered_at"] = answered_at
        if moves:
            values["can_confirm_until"] = answered_at + timedelta(days=settings.confirm_days)
    if moves and step.status is not None:
        await change_status(
            uow,
            row,
            step.status,
            at=data.occurred_at,
            text=step.text,
            values=values,
            authority_id=authority_id,
            authority_name=authority_name,
            source_event=event.routing_key,
        )
    else:
        await db.update_problem(uow.session, row.id, values)
        await db.add_timeline(
            uow.session,
            row.id,
            at=data.occurred_at,
            status=row.status,
            text_=step.text,
            authority_id=authority_id,
            authority_name=authority_name,
            source_event=event.routing_key,
        )


async def apply_territory(uow: UnitOfWork, event: CloudEvent) -> None:
    data = TerritoryChanged.model_validate(event.data)
    await territories_db.upsert_territory(
        uow.session,
        {
            "id": data.territory_id,
            "oktmo": data.oktmo,
            "name": data.name,
            "level": data.level,
            "parent_id": data.parent_id,
            "timezone": data.timezone,
            "changed_at": data.changed_at,
        },
        data.boundary,
    )


async def erase_user(uow: UnitOfWork, event: CloudEvent) -> None:
    data = UserErased.model_validate(event.data)
    await pd_db.erase_user(uow.session, data.user_id)
