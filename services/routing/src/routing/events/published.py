"""Domain facts → the payloads of ``contracts/events/routing/*.json`` (validated against them in tests)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from servicekit.events import CloudEvent, new_event

SOURCE = "routing"


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _id(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


def appeal_common(row: Any, occurred_at: datetime, **changes: Any) -> dict[str, Any]:
    """The fields every ``routing.appeal.*`` event carries; ``row`` is an appeal context row
    (``routing.db.repo.appeal_context_query``) and ``changes`` override its columns after the step."""

    def get(name: str) -> Any:
        return changes[name] if name in changes else getattr(row, name)

    return {
        "appeal_id": str(get("id")),
        "problem_id": str(get("problem_id")),
        "authority_id": str(get("authority_id")),
        "authority_name": get("authority_name"),
        "department_id": _id(get("department_id")),
        "territory_id": _id(get("territory_id")),
        "territory_oktmo": get("territory_oktmo"),
        "category_id": str(get("category_id")),
        "occurred_at": occurred_at.isoformat(),
    }


def appeal_event(verb: str, appeal_id: uuid.UUID, data: dict[str, Any]) -> CloudEvent:
    return new_event(f"routing.appeal.{verb}.v1", data, source=SOURCE, subject=str(appeal_id))


def sent(
    common: dict[str, Any], *, channel: str, reason: str, registration_due_at: datetime, repeat_of: uuid.UUID | None
) -> dict[str, Any]:
    return {
        **common,
        "channel": channel,
        "reason": reason,
        "registration_due_at": registration_due_at.isoformat(),
        "repeat_of": _id(repeat_of),
    }


def registered(
    common: dict[str, Any], *, registered_at: datetime, answer_due_at: datetime, number: str | None
) -> dict[str, Any]:
    return {
        **common,
        "registered_at": registered_at.isoformat(),
        "answer_due_at": answer_due_at.isoformat(),
        "registration_number": number,
    }


def territory_changed(row: Any, boundary: dict[str, Any] | None, changed_at: datetime) -> CloudEvent:
    data = {
        "territory_id": str(row.id),
        "oktmo": row.oktmo,
        "name": row.name,
        "level": row.level,
        "parent_id": _id(row.parent_id),
        "timezone": row.timezone,
        "boundary": boundary,
        "changed_at": changed_at.isoformat(),
    }
    return new_event("routing.territory.changed.v1", data, source=SOURCE, subject=str(row.id))


def authority_changed(row: Any, changed_at: datetime) -> CloudEvent:
    data = {
        "authority_id": str(row.id),
        "name": row.name,
        "kind": row.kind,
        "parent_id": _id(row.parent_id),
        "territory_id": _id(row.territory_id),
        "changed_at": changed_at.isoformat(),
    }
    return new_event("routing.authority.changed.v1", data, source=SOURCE, subject=str(row.id))
