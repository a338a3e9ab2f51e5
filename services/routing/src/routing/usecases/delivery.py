"""Delivery of appeals through the authority's channel.

The cabinet channel is immediate: an appeal is in the authority's cabinet queue as soon as it is created.
The e-mail channel (``routing.mail``, ``routing.usecases.email_channel``) works from ``deliveries`` rows that
:func:`routing.usecases.appeals.open_appeal` inserts in the appeal's own transaction; it builds the letter with
:func:`letter_for` and reports back with :func:`mark_delivered`, :func:`mark_failed` and :func:`record_bounce`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from routing.db import repo
from routing.db.tables import appeal_events, appeals, authorities, deliveries
from routing.events import published
from servicekit.uow import UnitOfWork


@dataclass(frozen=True)
class AppealLetter:
    """Everything 59-FZ asks of a written appeal, for one appeal. Personal data: never log it."""

    appeal_id: uuid.UUID
    reply_token: str
    sent_at: datetime
    registration_due_at: datetime
    reason: str
    repeat_of: uuid.UUID | None
    authority_id: uuid.UUID
    authority_name: str
    authority_email: str | None
    category_name: str
    title: str
    description: str
    address: str
    lon: float
    lat: float
    photos: list[str]
    public_url: str | None
    applicant_name: str | None
    applicant_email: str | None
    applicant_postal_address: str | None


class Delivery(Protocol):
    """A channel that hands an appeal to its authority (the e-mail channel implements it)."""

    channel: str

    async def deliver(self, letter: AppealLetter) -> str:
        """Deliver; return an external id (e.g. a Message-ID). Raise to have the attempt retried."""
        ...


async def letter_for(session: AsyncSession, appeal_id: uuid.UUID) -> AppealLetter:
    row = (
        await session.execute(
            repo.appeal_context_query()
            .add_columns(authorities.c.email.label("authority_email"))
            .where(appeals.c.id == appeal_id)
        )
    ).one()
    problem = await repo.problem(session, row.problem_id)
    applicant = await repo.applicant(session, appeal_id)
    assert problem is not None
    return AppealLetter(
        appeal_id=row.id,
        reply_token=row.reply_token,
        sent_at=row.sent_at,
        registration_due_at=row.registration_due_at,
        reason=row.reason,
        repeat_of=row.repeat_of,
        authority_id=row.authority_id,
        authority_name=row.authority_name,
        authority_email=row.authority_email,
        category_name=problem.category_name,
        title=problem.title,
        description=problem.description,
        address=problem.address,
        lon=float(problem.lon),
        lat=float(problem.lat),
        photos=list(problem.photos or []),
        public_url=problem.public_url,
        applicant_name=applicant.full_name if applicant else None,
        applicant_email=applicant.email if applicant else None,
        applicant_postal_address=applicant.postal_address if applicant else None,
    )


async def _timeline(uow: UnitOfWork, appeal_id: uuid.UUID, kind: str, **data: Any) -> None:
    await uow.session.execute(insert(appeal_events).values(appeal_id=appeal_id, kind=kind, data=data))


async def mark_delivered(uow: UnitOfWork, delivery_id: uuid.UUID, *, external_id: str | None) -> None:
    result = await uow.session.execute(
        update(deliveries)
        .where(deliveries.c.id == delivery_id)
        .values(status="sent", external_id=external_id, attempts=deliveries.c.attempts + 1, updated_at=func.now())
        .returning(deliveries.c.appeal_id, deliveries.c.channel)
    )
    row = result.one()
    await _timeline(uow, row.appeal_id, "delivered", channel=row.channel)


async def _failed(uow: UnitOfWork, appeal_id: uuid.UUID, channel: str, error: str, kind: str) -> None:
    now = datetime.now(UTC)
    await _timeline(uow, appeal_id, kind, channel=channel, error=error)
    context = await repo.lock_appeal(uow.session, appeal_id)
    data = {**published.appeal_common(context, now), "channel": channel, "error": error}
    uow.record(published.appeal_event("delivery_failed", appeal_id, data))


async def mark_failed(uow: UnitOfWork, delivery_id: uuid.UUID, *, error: str, retry_at: datetime | None) -> None:
    """One failed attempt; ``retry_at`` None gives up: status failed and ``routing.appeal.delivery_failed.v1``."""
    values: dict[str, Any] = {"attempts": deliveries.c.attempts + 1, "last_error": error, "updated_at": func.now()}
    if retry_at is None:
        values["status"] = "failed"
    else:
        values["next_attempt_at"] = retry_at
    row = (
        await uow.session.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id)
            .values(**values)
            .returning(deliveries.c.appeal_id, deliveries.c.channel)
        )
    ).one()
    if retry_at is None:
        await _failed(uow, row.appeal_id, row.channel, error, "delivery_failed")


async def record_bounce(uow: UnitOfWork, appeal_id: uuid.UUID, *, error: str) -> None:
    """A bounce after the e-mail left: shown to operators, ``routing.appeal.delivery_failed.v1``."""
    await uow.session.execute(
        update(deliveries)
        .where(deliveries.c.appeal_id == appeal_id, deliveries.c.channel == "email")
        .values(status="bounced", last_error=error, updated_at=func.now())
    )
    await _failed(uow, appeal_id, "email", error, "bounced")


async def pending_email_deliveries(session: AsyncSession, limit: int = 50) -> list[uuid.UUID]:
    """Due e-mail deliveries, claimed for this transaction (``FOR UPDATE SKIP LOCKED``)."""
    result = await session.execute(
        select(deliveries.c.id)
        .where(
            deliveries.c.status == "pending",
            deliveries.c.channel == "email",
            deliveries.c.next_attempt_at <= func.now(),
        )
        .order_by(deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [r[0] for r in result.all()]
