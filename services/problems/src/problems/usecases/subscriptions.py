"""Use cases of subscriptions: follow a problem, an area (a circle) or a territory; list, delete, unsubscribe.

A subscription keeps the e-mail the person gave when subscribing (personal data: it goes with the subscription,
and all of a user's subscriptions go on ``auth.user.erased.v1``). Each has a random unsubscribe token (256 bits)
for the one-click link in every e-mail.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from problems.db import subscription_tables as db
from problems.domain.statuses import HIDDEN_STATUSES
from servicekit.http import idempotency
from servicekit.http.problems import ProblemError
from servicekit.uow import UnitOfWork


@dataclass(frozen=True)
class Follower:
    user_id: uuid.UUID
    privileged: bool
    """Moderators and operators may follow problems others cannot see."""


@dataclass(frozen=True)
class NewSubscription:
    kind: str
    email: str
    problem_id: uuid.UUID | None = None
    lon: float | None = None
    lat: float | None = None
    radius_m: int | None = None
    territory_id: uuid.UUID | None = None


async def move_subscriptions(session: AsyncSession, *, from_problem_id: uuid.UUID, to_problem_id: uuid.UUID) -> int:
    """The merge hook: followers of a merged duplicate follow the survivor (once each)."""
    return await db.move_problem_subscriptions(session, from_problem_id, to_problem_id)


def _not_found(what: str) -> ProblemError:
    return ProblemError(404, f"{what} не найдена.", title="Not Found")


async def _check_target(session: AsyncSession, follower: Follower, new: NewSubscription) -> None:
    if new.kind == "problem":
        assert new.problem_id is not None
        row = await db.problem_brief(session, new.problem_id)
        hidden = row is not None and (row.private or row.status in HIDDEN_STATUSES)
        if row is None or (hidden and not follower.privileged and row.author_id != follower.user_id):
            raise _not_found("Проблема")
    elif new.kind == "territory":
        assert new.territory_id is not None
        if not await db.territory_exists(session, new.territory_id):
            raise ProblemError(
                422,
                "Проверьте поле territory_id: такой территории нет.",
                title="Validation failed",
                errors=[{"field": "body.territory_id", "message": "Такой территории нет."}],
            )


async def subscribe(
    uow: UnitOfWork,
    follower: Follower,
    new: NewSubscription,
    *,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
) -> tuple[int, dict[str, Any]]:
    """Create a subscription; ``(201, it)``, or ``(200, the existing one)`` when the problem is already followed.
    With an Idempotency-Key a retried request gets the first answer again."""
    session = uow.session
    scope = f"subscriptions:{follower.user_id}"
    if idempotency_key is not None:
        stored = await idempotency.claim(
            session, uow.tables, scope=scope, key=idempotency_key, request_fingerprint=request_fingerprint
        )
        if stored is not None:
            return stored.status_code, stored.body
    await _check_target(session, follower, new)
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": follower.user_id,
        "email": new.email,
        "kind": new.kind,
        "problem_id": new.problem_id,
        "radius_m": new.radius_m,
        "territory_id": new.territory_id,
        "token": secrets.token_urlsafe(32),
    }
    center = (new.lon, new.lat) if new.kind == "area" and new.lon is not None and new.lat is not None else None
    created = await db.insert_subscription(session, values, center=center)
    status = 201
    if created is None:
        assert new.problem_id is not None
        created = await db.problem_subscription_of(session, follower.user_id, new.problem_id)
        status = 200
    row = await db.subscription_by_id(session, created) if created else None
    assert row is not None
    body = _json(row)
    if idempotency_key is not None:
        await idempotency.complete(session, uow.tables, scope=scope, key=idempotency_key, status_code=status, body=body)
    await uow.commit()
    return status, body


def _json(row: dict[str, Any]) -> dict[str, Any]:
    """A subscription as the API shows it (JSON-ready, for the idempotency store too)."""
    created_at = row["created_at"]
    return {
        "id": str(row["id"]),
        "kind": row["kind"],
        "email": row["email"],
        "problem_id": str(row["problem_id"]) if row["problem_id"] else None,
        "point": {"lon": row["lon"], "lat": row["lat"]} if row["lon"] is not None else None,
        "radius_m": row["radius_m"],
        "territory_id": str(row["territory_id"]) if row["territory_id"] else None,
        "created_at": created_at.isoformat() if isinstance(created_at, datetime) else created_at,
    }


async def my_subscriptions(
    session: AsyncSession, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[dict[str, Any]]:
    return [
        _json(row) | {"_created_at": row["created_at"]}
        for row in await db.subscriptions_of(session, user_id, after=after, limit=limit)
    ]


async def unsubscribe(uow: UnitOfWork, user_id: uuid.UUID, subscription_id: uuid.UUID) -> None:
    """Delete one of the caller's subscriptions; another user's is "not found" (its existence is not told)."""
    row = await db.subscription_by_id(uow.session, subscription_id)
    if row is None or row["user_id"] != user_id:
        raise _not_found("Подписка")
    await db.delete_subscription(uow.session, subscription_id)
    await uow.commit()


async def unsubscribe_by_token(uow: UnitOfWork, token: str) -> bool:
    """The one-click link: True if a subscription went, False if the token is unknown (already used)."""
    deleted = await db.delete_by_token(uow.session, token)
    await uow.commit()
    return deleted
