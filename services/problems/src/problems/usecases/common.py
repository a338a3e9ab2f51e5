"""What several use cases share: who may see or touch a problem, its public view, status changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from problems.db import problems as db
from problems.domain.statuses import CLOSED_STATUSES, status_name
from problems.events import published
from problems.settings import ProblemsSettings
from servicekit.events import CloudEvent
from servicekit.http.problems import ProblemError
from servicekit.security import Principal

FIRST_STEP = {"moderation": "Проблема отправлена на модерацию", "published": "Проблема опубликована"}
"""The timeline's first step of a new report, by its status."""

STAFF_HIDDEN = frozenset({"moderation", "rejected", "withdrawn"})


def is_staff(principal: Principal | None) -> bool:
    return principal is not None and bool(principal.roles & {"moderator", "operator"})


def is_author(principal: Principal | None, row: Any) -> bool:
    return principal is not None and row.author_id is not None and principal.subject == str(row.author_id)


def can_see(principal: Principal | None, row: Any) -> bool:
    if row.private or row.status in STAFF_HIDDEN:
        return is_staff(principal) or is_author(principal, row)
    return True


def not_found() -> ProblemError:
    return ProblemError(404, "Проблема не найдена.", title="Not found")


def user_id(principal: Principal) -> uuid.UUID:
    """The caller as a resident (a user id); partner tokens (client subjects) are refused."""
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise ProblemError(403, "Это действие доступно только жителю, вошедшему в систему.") from None


async def visible_problem(session: AsyncSession, problem_id: uuid.UUID, principal: Principal | None) -> Any:
    row = await db.problem_view(session, problem_id)
    if row is None or not can_see(principal, row):
        raise not_found()
    return row


async def locked_problem(session: AsyncSession, problem_id: uuid.UUID, principal: Principal | None) -> Any:
    row = await db.lock_problem(session, problem_id)
    if row is None or not can_see(principal, row):
        raise not_found()
    return row


def photo_urls(settings: ProblemsSettings, photo_id: uuid.UUID) -> tuple[str, str]:
    base = f"{settings.public_base_url.rstrip('/')}/api/v1/problems/photos/{photo_id}"
    return f"{base}/file", f"{base}/thumbnail"


def public_url(settings: ProblemsSettings, problem_id: uuid.UUID) -> str:
    return f"{settings.public_base_url.rstrip('/')}/problems/{problem_id}"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def summary(row: Any, settings: ProblemsSettings, photos: list[Any]) -> dict[str, Any]:
    """The public shape of a problem (lists use it too), JSON-ready."""
    return {
        "id": str(row.id),
        "map_code": row.map_code,
        "category_code": row.category_code,
        "category_name": row.category_name,
        "point": {"lon": float(row.lon), "lat": float(row.lat)},
        "address": row.address,
        "title": row.title,
        "description": row.description,
        "extra": dict(row.extra or {}),
        "photos": [
            dict(zip(("url", "thumbnail_url"), photo_urls(settings, photo.id), strict=True), id=str(photo.id))
            for photo in photos
        ],
        "status": row.status,
        "status_name": status_name(row.status),
        "open": row.status not in CLOSED_STATUSES,
        "reported_at": _iso(row.reported_at),
        "published_at": _iso(row.published_at),
        "updated_at": _iso(row.updated_at),
        "supports_count": row.supports_count,
        "comments_count": row.comments_count,
        "author": None if row.anonymous or not row.author_display_name else {"display_name": row.author_display_name},
        "anonymous": bool(row.anonymous),
        "authority": None if row.authority_id is None else {"id": str(row.authority_id), "name": row.authority_name},
        "appeal_id": str(row.appeal_id) if row.appeal_id else None,
        "answer_due_at": _iso(row.answer_due_at),
        "can_confirm_until": _iso(row.can_confirm_until) if row.status == "answered" else None,
        "rating": row.rating,
        "merged_into": str(row.merged_into) if row.merged_into else None,
    }


async def full_view(
    session: AsyncSession,
    row: Any,
    settings: ProblemsSettings,
    principal: Principal | None,
    *,
    fresh: list[Any] | None = None,
) -> dict[str, Any]:
    """The Problem with answers and timeline. ``fresh``: a problem just created with these photos (rows with
    ``id``), whose answers, supports and timeline (one step) are known without asking the database."""
    photos = fresh if fresh is not None else await db.photo_list(session, row.id)
    view = summary(row, settings, photos)
    view["answers"] = [
        {
            "id": str(answer.id),
            "text": answer.text,
            "outcome": answer.outcome,
            "answered_at": _iso(answer.answered_at),
            "answered_by": answer.answered_by or answer.authority_name,
            "authority": {"id": str(answer.authority_id), "name": answer.authority_name}
            if answer.authority_id
            else None,
            "planned_for": answer.planned_for.isoformat() if answer.planned_for else None,
        }
        for answer in ([] if fresh is not None else await db.answer_list(session, row.id))
    ]
    view["timeline"] = (
        [
            {
                "at": _iso(step.at),
                "status": step.status,
                "status_name": status_name(step.status),
                "text": step.text,
                "authority": None
                if step.authority_id is None
                else {"id": str(step.authority_id), "name": step.authority_name},
            }
            for step in await db.timeline(session, row.id)
        ]
        if fresh is None
        else [
            {
                "at": _iso(row.reported_at),
                "status": row.status,
                "status_name": status_name(row.status),
                "text": FIRST_STEP[row.status],
                "authority": None,
            }
        ]
    )
    mine = is_author(principal, row)
    view["is_mine"] = mine
    if mine or is_staff(principal):
        view["moderation_reason"] = row.moderation_reason
    if principal is not None and fresh is not None:
        view["supported_by_me"] = False
    elif principal is not None:
        try:
            view["supported_by_me"] = await db.has_support(session, row.id, uuid.UUID(principal.subject))
        except ValueError:
            view["supported_by_me"] = False
    return view


class EventSink(Protocol):
    """A unit of work, or anything with a session that records events into the outbox of its transaction."""

    @property
    def session(self) -> AsyncSession: ...

    def record(self, event: CloudEvent) -> None: ...


async def change_status(
    uow: EventSink,
    row: Any,
    to_status: str,
    *,
    at: datetime,
    text: str,
    reason: str | None = None,
    values: dict[str, Any] | None = None,
    authority_id: uuid.UUID | None = None,
    authority_name: str | None = None,
    source_event: str | None = None,
) -> Any:
    """Move ``row`` to ``to_status`` (with other column ``values``), add a timeline step, record the event.

    Returns the fresh row."""
    await db.update_problem(uow.session, row.id, {"status": to_status, **(values or {})})
    await db.add_timeline(
        uow.session,
        row.id,
        at=at,
        status=to_status,
        text_=text,
        authority_id=authority_id,
        authority_name=authority_name,
        source_event=source_event,
    )
    fresh = await db.problem_view(uow.session, row.id)
    if row.status != to_status:
        uow.record(
            published.status_changed(
                fresh, from_status=row.status, to_status=to_status, changed_at=at, reason=reason, text=text
            )
        )
    return fresh


async def publish_event(
    uow: EventSink,
    row: Any,
    settings: ProblemsSettings,
    *,
    fresh: tuple[list[Any], dict[str, Any] | None] | None = None,
) -> None:
    """Record ``problem.published.v1`` for a problem that has just become public. ``fresh``: its photos and
    applicant, when the caller has just written them."""
    if fresh is not None:
        photos, applicant = fresh
    else:
        photos = await db.photo_list(uow.session, row.id)
        applicant_row = await db.applicant(uow.session, row.id)
        applicant = None
        if not row.anonymous and applicant_row is not None and applicant_row.full_name and applicant_row.email:
            applicant = {
                "full_name": applicant_row.full_name,
                "email": applicant_row.email,
                "postal_address": applicant_row.postal_address,
            }
    uow.record(
        published.published(
            row,
            photo_urls=[photo_urls(settings, photo.id)[0] for photo in photos],
            public_url=public_url(settings, row.id),
            applicant=applicant,
        )
    )
