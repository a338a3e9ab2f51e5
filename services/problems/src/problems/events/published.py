"""Domain facts → the payloads of ``contracts/events/problems/*.json`` (validated against them in tests)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servicekit.events import CloudEvent, new_event

SOURCE = "problems"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _point(row: Any) -> dict[str, float]:
    return {"lon": float(row.lon), "lat": float(row.lat)}


def _event(verb: str, row: Any, data: dict[str, Any]) -> CloudEvent:
    return new_event(f"problems.problem.{verb}.v1", data, source=SOURCE, subject=str(row.id))


def reported(row: Any) -> CloudEvent:
    return _event(
        "reported",
        row,
        {
            "problem_id": str(row.id),
            "map_id": str(row.map_id),
            "map_code": row.map_code,
            "category_id": str(row.category_id),
            "category_code": row.category_code,
            "category_name": row.category_name,
            "point": _point(row),
            "address": row.address,
            "status": row.status,
            "reported_at": _iso(row.reported_at),
            "anonymous": bool(row.anonymous),
            "author_id": None if row.anonymous or row.author_id is None else str(row.author_id),
        },
    )


def published(row: Any, *, photo_urls: list[str], public_url: str, applicant: dict[str, Any] | None) -> CloudEvent:
    return _event(
        "published",
        row,
        {
            "problem_id": str(row.id),
            "map_id": str(row.map_id),
            "map_code": row.map_code,
            "category_id": str(row.category_id),
            "category_code": row.category_code,
            "category_name": row.category_name,
            "point": _point(row),
            "address": row.address,
            "title": row.title,
            "description": row.description,
            "published_at": _iso(row.published_at),
            "reported_at": _iso(row.reported_at),
            "photos": photo_urls,
            "extra": dict(row.extra or {}),
            "public_url": public_url,
            "author_id": None if row.anonymous or row.author_id is None else str(row.author_id),
            "applicant": applicant,
            "territory_ids": [str(t) for t in row.territory_ids or []],
        },
    )


def status_changed(
    row: Any, *, from_status: str, to_status: str, changed_at: datetime, reason: str | None, text: str
) -> CloudEvent:
    return _event(
        "status_changed",
        row,
        {
            "problem_id": str(row.id),
            "map_id": str(row.map_id),
            "category_id": str(row.category_id),
            "point": _point(row),
            "from_status": from_status,
            "to_status": to_status,
            "changed_at": _iso(changed_at),
            "reason": reason,
            "text": text,
            "title": row.title,
        },
    )


def confirmed(row: Any, *, at: datetime) -> CloudEvent:
    return _event(
        "confirmed",
        row,
        {
            "problem_id": str(row.id),
            "category_id": str(row.category_id),
            "appeal_id": str(row.appeal_id) if row.appeal_id else None,
            "confirmed_at": _iso(at),
        },
    )


def reopened(row: Any, *, at: datetime, reason: str) -> CloudEvent:
    return _event(
        "reopened",
        row,
        {
            "problem_id": str(row.id),
            "category_id": str(row.category_id),
            "appeal_id": str(row.appeal_id) if row.appeal_id else None,
            "reason": reason,
            "reopened_at": _iso(at),
        },
    )


def rated(row: Any, *, at: datetime, rating: int) -> CloudEvent:
    return _event(
        "rated",
        row,
        {
            "problem_id": str(row.id),
            "category_id": str(row.category_id),
            "appeal_id": str(row.appeal_id) if row.appeal_id else None,
            "rating": rating,
            "rated_at": _iso(at),
        },
    )
