"""The reading side's tables in schema ``problems``: subscriptions, the e-mail notification queue, and the map's
cluster cells; plus the indexes on ``problems`` that the map and the lists read through. Created by migration 0003.

``map_cells`` is kept in step with ``problems`` by the deferred trigger ``problems_map_cells_sync`` (migration
0003): one row per (grid level, cell, map, category, status) with the count and the coordinate sums of the
public (non-private) problems in it. See :mod:`problems.domain.clusters` for the grid.
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    Table,
    Text,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession

from problems.db.tables import metadata, problems

_PUBLIC = "status IN ('published', 'sent', 'registered', 'in_work', 'answered', 'solved', 'not_solved', 'forwarded')"
PUBLIC_WHERE = text(f"{_PUBLIC} AND NOT private")
"""The partial indexes' predicate (unqualified, as an index predicate is written)."""
PUBLIC_PROBLEM = text(f"problems.problems.{_PUBLIC} AND NOT problems.problems.private")
"""The same predicate, qualified for queries that join other tables; literal SQL (no bind parameters), so the
planner proves the partial indexes usable even for a prepared statement's generic plan."""

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("email", Text, nullable=False, comment="Personal data: deleted with the subscription on erasure."),
    Column("kind", Text, nullable=False, comment="problem | area | territory"),
    Column("problem_id", UUID(as_uuid=True), ForeignKey("problems.problems.id", ondelete="CASCADE")),
    Column("center", Geometry("POINT", srid=4326, spatial_index=False)),
    Column("radius_m", Integer),
    Column("territory_id", UUID(as_uuid=True)),
    Column("token", Text, nullable=False, unique=True, comment="One-click unsubscribe token (random, 256 bits)."),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(
        "(kind = 'problem' AND problem_id IS NOT NULL AND center IS NULL AND territory_id IS NULL)"
        " OR (kind = 'area' AND center IS NOT NULL AND radius_m BETWEEN 50 AND 20000 AND problem_id IS NULL)"
        " OR (kind = 'territory' AND territory_id IS NOT NULL AND problem_id IS NULL AND center IS NULL)",
        name="subscriptions_kind_check",
    ),
    Index("subscriptions_user_idx", "user_id", "created_at", "id"),
    Index(
        "subscriptions_problem_uq",
        "problem_id",
        "user_id",
        unique=True,
        postgresql_where=text("kind = 'problem'"),
    ),
    Index("subscriptions_center_gist", "center", postgresql_using="gist", postgresql_where=text("kind = 'area'")),
    Index("subscriptions_territory_idx", "territory_id", postgresql_where=text("kind = 'territory'")),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, Identity(always=True), primary_key=True),
    Column(
        "subscription_id",
        UUID(as_uuid=True),
        ForeignKey("problems.subscriptions.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("user_id", UUID(as_uuid=True), nullable=False),
    Column("event_id", UUID(as_uuid=True), nullable=False, comment="The status_changed event that caused it."),
    Column("problem_id", UUID(as_uuid=True), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("state", Text, nullable=False, server_default="pending", comment="pending | sending | sent | failed"),
    Column("attempts", SmallInteger, nullable=False, server_default=text("0")),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("sent_at", DateTime(timezone=True)),
    Column("last_error", Text),
    CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed')", name="notifications_state_check"),
    Index("notifications_once_uq", "event_id", "user_id", unique=True),
    Index("notifications_due_idx", "next_attempt_at", postgresql_where=text("state = 'pending'")),
    Index("notifications_subscription_idx", "subscription_id"),
)

map_cells = Table(
    "map_cells",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("cell_x", Integer, nullable=False),
    Column("cell_y", Integer, nullable=False),
    Column("map_id", UUID(as_uuid=True), nullable=False),
    Column("category_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("n", Integer, nullable=False),
    Column("sum_lon", Float, nullable=False),
    Column("sum_lat", Float, nullable=False),
    PrimaryKeyConstraint("level", "cell_x", "cell_y", "map_id", "category_id", "status", name="map_cells_pkey"),
)

map_cell_deltas = Table(
    "map_cell_deltas",
    metadata,
    Column("level", SmallInteger, nullable=False),
    Column("cell_x", Integer, nullable=False),
    Column("cell_y", Integer, nullable=False),
    Column("map_id", UUID(as_uuid=True), nullable=False),
    Column("category_id", UUID(as_uuid=True), nullable=False),
    Column("status", Text, nullable=False),
    Column("n", Integer, nullable=False),
    Column("sum_lon", Float, nullable=False),
    Column("sum_lat", Float, nullable=False),
    Index("map_cell_deltas_cell_idx", "level", "cell_x", "cell_y"),
    comment="Not yet folded changes of map_cells (+1/-1 per level), appended by the trigger.",
)
"""Appended by the trigger (migration 0004) instead of updating the shared ``map_cells`` rows at every report;
``problems.map_cells_fold()`` moves them into ``map_cells``. Readers sum both."""

# Indexes on the `problems` table that the map and the lists read through (created by migration 0003).
Index("problems_public_point_gist", problems.c.point, postgresql_using="gist", postgresql_where=PUBLIC_WHERE)
Index(
    "problems_public_new_idx",
    problems.c.reported_at.desc(),
    problems.c.id.desc(),
    postgresql_where=PUBLIC_WHERE,
)
Index(
    "problems_public_supports_idx",
    problems.c.supports_count.desc(),
    problems.c.id.desc(),
    postgresql_where=PUBLIC_WHERE,
)


# --- Subscription queries -------------------------------------------------------------------------------------


async def move_problem_subscriptions(
    session: AsyncSession, from_problem_id: uuid.UUID, to_problem_id: uuid.UUID
) -> int:
    """Merging duplicates: followers of ``from`` follow ``to`` (those already following ``to`` keep one)."""
    s = subscriptions
    already = select(s.c.user_id).where(s.c.kind == "problem", s.c.problem_id == to_problem_id).scalar_subquery()
    await session.execute(
        delete(s).where(s.c.kind == "problem", s.c.problem_id == from_problem_id, s.c.user_id.in_(already))
    )
    moved = await session.execute(
        update(s).where(s.c.kind == "problem", s.c.problem_id == from_problem_id).values(problem_id=to_problem_id)
    )
    return int(getattr(moved, "rowcount", 0) or 0)


async def insert_subscription(
    session: AsyncSession, values: dict[str, object], *, center: tuple[float, float] | None = None
) -> uuid.UUID | None:
    """Insert; returns the new id, or None when this user already follows this problem."""
    if center is not None:
        values = {**values, "center": func.ST_SetSRID(func.ST_MakePoint(center[0], center[1]), 4326)}
    row = (
        await session.execute(
            insert(subscriptions)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["problem_id", "user_id"], index_where=text("kind = 'problem'"))
            .returning(subscriptions.c.id)
        )
    ).first()
    return None if row is None else row[0]


async def problem_subscription_of(session: AsyncSession, user_id: uuid.UUID, problem_id: uuid.UUID) -> uuid.UUID | None:
    return (
        await session.execute(
            select(subscriptions.c.id).where(
                subscriptions.c.kind == "problem",
                subscriptions.c.problem_id == problem_id,
                subscriptions.c.user_id == user_id,
            )
        )
    ).scalar_one_or_none()


def subscription_columns() -> list[object]:
    s = subscriptions
    return [
        s.c.id,
        s.c.kind,
        s.c.email,
        s.c.problem_id,
        func.ST_X(s.c.center).label("lon"),
        func.ST_Y(s.c.center).label("lat"),
        s.c.radius_m,
        s.c.territory_id,
        s.c.created_at,
    ]


async def subscriptions_of(
    session: AsyncSession, user_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[dict[str, object]]:
    """A user's subscriptions, newest first, keyset-paginated on ``(created_at, id)``."""
    s = subscriptions
    query = select(*subscription_columns()).where(s.c.user_id == user_id)  # type: ignore[call-overload]
    if after is not None:
        query = query.where(func.row(s.c.created_at, s.c.id) < func.row(after[0], after[1]))
    query = query.order_by(s.c.created_at.desc(), s.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in await session.execute(query)]


async def subscription_by_id(session: AsyncSession, subscription_id: uuid.UUID) -> dict[str, object] | None:
    query = select(*subscription_columns(), subscriptions.c.user_id).where(  # type: ignore[call-overload]
        subscriptions.c.id == subscription_id
    )
    row = (await session.execute(query)).first()
    return None if row is None else dict(row._mapping)


async def delete_subscription(session: AsyncSession, subscription_id: uuid.UUID) -> bool:
    result = await session.execute(delete(subscriptions).where(subscriptions.c.id == subscription_id))
    return bool(getattr(result, "rowcount", 0))


async def delete_by_token(session: AsyncSession, token: str) -> bool:
    result = await session.execute(delete(subscriptions).where(subscriptions.c.token == token))
    return bool(getattr(result, "rowcount", 0))


async def delete_user_subscriptions(session: AsyncSession, user_id: uuid.UUID) -> int:
    """152-FZ erasure: the user's subscriptions (with their e-mail) and queued mail go."""
    await session.execute(delete(notifications).where(notifications.c.user_id == user_id))
    result = await session.execute(delete(subscriptions).where(subscriptions.c.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


MAX_RADIUS_M = 20000


def degrees_reach(lat: float, metres: float) -> float:
    """Degrees that surely cover ``metres`` around latitude ``lat`` (a box for the GiST index to cut by)."""
    cos = max(math.cos(math.radians(min(abs(lat) + 1.0, 89.0))), 0.01)
    return min(180.0, metres / 111_000.0 / cos * 1.1)


async def subscribers_of_change(
    session: AsyncSession, problem_id: uuid.UUID, lon: float, lat: float
) -> list[dict[str, object]]:
    """Every subscription a change of this problem concerns: followers of the problem, areas whose circle holds
    its point, territories whose boundary covers it. Several per user are possible (the caller keeps one)."""
    rows = await session.execute(
        text(
            """
            SELECT s.id, s.user_id, s.email, s.token, s.kind, s.created_at FROM problems.subscriptions s
             WHERE s.kind = 'problem' AND s.problem_id = :problem_id
            UNION ALL
            SELECT s.id, s.user_id, s.email, s.token, s.kind, s.created_at FROM problems.subscriptions s
             WHERE s.kind = 'area'
               AND s.center && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :reach)
               AND ST_DWithin(s.center::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, s.radius_m)
            UNION ALL
            SELECT s.id, s.user_id, s.email, s.token, s.kind, s.created_at FROM problems.subscriptions s
              JOIN problems.problems p ON p.id = :problem_id
             WHERE s.kind = 'territory' AND s.territory_id = ANY(p.territory_ids)
            """
        ),
        {"problem_id": problem_id, "lon": lon, "lat": lat, "reach": degrees_reach(lat, MAX_RADIUS_M)},
    )
    return [dict(row._mapping) for row in rows]


# --- Notification queries -------------------------------------------------------------------------------------


async def problem_brief(session: AsyncSession, problem_id: uuid.UUID) -> Any:
    """What a notification says about a problem (and whether areas may hear of it)."""
    return (
        await session.execute(
            select(
                problems.c.id,
                problems.c.title,
                problems.c.address,
                problems.c.private,
                problems.c.status,
                problems.c.author_id,
            ).where(problems.c.id == problem_id)
        )
    ).first()


async def latest_answer(session: AsyncSession, problem_id: uuid.UUID) -> Any:
    return (
        await session.execute(
            text(
                "SELECT text, authority_name, answered_at FROM problems.answers WHERE problem_id = :id"
                " ORDER BY answered_at DESC LIMIT 1"
            ),
            {"id": problem_id},
        )
    ).first()


async def territory_exists(session: AsyncSession, territory_id: uuid.UUID) -> bool:
    found = await session.execute(text("SELECT 1 FROM problems.territories WHERE id = :id"), {"id": territory_id})
    return found.first() is not None


async def claim_due_mail(session: AsyncSession, limit: int) -> list[Any]:
    """Mark up to ``limit`` due mails ``sending`` (skipping those another sender holds); the caller commits
    before it talks to SMTP."""
    rows = await session.execute(
        text(
            """
            UPDATE problems.notifications n
               SET state = 'sending', attempts = n.attempts + 1, next_attempt_at = now()
              FROM problems.subscriptions s
             WHERE s.id = n.subscription_id
               AND n.id IN (SELECT id FROM problems.notifications
                             WHERE state = 'pending' AND next_attempt_at <= now()
                             ORDER BY next_attempt_at LIMIT :limit FOR UPDATE SKIP LOCKED)
            RETURNING n.id, n.subject, n.body, n.problem_id, n.attempts, s.email, s.token
            """
        ),
        {"limit": limit},
    )
    return list(rows)


async def mark_mail(session: AsyncSession, mail_id: int, **values: Any) -> None:
    await session.execute(update(notifications).where(notifications.c.id == mail_id).values(**values))


async def fail_stale_sending(session: AsyncSession, older_than: timedelta) -> int:
    result = await session.execute(
        update(notifications)
        .where(notifications.c.state == "sending", notifications.c.next_attempt_at < func.now() - older_than)
        .values(state="failed", last_error="interrupted while sending")
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def queue_mail(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Queue mails; one per (event, user) ever: a second attempt to queue the same is ignored."""
    result = await session.execute(
        insert(notifications).values(rows).on_conflict_do_nothing(index_elements=["event_id", "user_id"])
    )
    return int(getattr(result, "rowcount", 0) or 0)
