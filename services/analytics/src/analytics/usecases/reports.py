"""The reports: read-only use cases over the read models, each in one read transaction."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import RowMapping
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from analytics.db import reports as q
from analytics.domain import heatmap as grid
from analytics.domain import histogram
from analytics.domain.rating import RatedDepartment, rank

DEFAULT_PERIOD_DAYS = 182
OPEN_DATA_DECIMALS = 3
"""Open data coordinates are rounded to 0.001° (about 110 m north–south, 65 m east–west at Kolomna): enough
for a map of a town, not enough to point at a resident's window or door."""


class NotFound(Exception):
    """The territory or authority is unknown to analytics (no event about it received yet)."""


@dataclass(frozen=True)
class Period:
    since: date
    until: date
    """Exclusive."""

    def bounds(self, tz: str) -> tuple[datetime, datetime]:
        zone = ZoneInfo(tz)
        return (
            datetime.combine(self.since, time(), zone).astimezone(UTC),
            datetime.combine(self.until, time(), zone).astimezone(UTC),
        )


EASTERNMOST_ZONE = ZoneInfo("Asia/Kamchatka")
"""Russia's latest calendar (UTC+12): its date is never behind a Russian territory's own."""


def period(since: date | None, until: date | None, today: date | None = None, *, now: datetime | None = None) -> Period:
    """The asked period, by default the last half year up to and including today.

    Without ``today``, today is Kamchatka's date at ``now``: the period is chosen before the territory (and
    its zone) is known, and UTC's date would cut off the start of every new local day east of Greenwich (in
    Moscow, the reports made between midnight and 03:00 would be missing until UTC's midnight)."""
    today = today or (now or datetime.now(UTC)).astimezone(EASTERNMOST_ZONE).date()
    end = until or today + timedelta(days=1)
    return Period(since or end - timedelta(days=DEFAULT_PERIOD_DAYS), end)


def _tz(row: RowMapping | None) -> str:
    return str(row["timezone"]) if row else "Europe/Moscow"


async def _territory(session: AsyncSession, territory_id: uuid.UUID) -> RowMapping:
    row = await q.territory(session, territory_id)
    if row is None:
        raise NotFound(str(territory_id))
    return row


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _num(value: Any, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


async def list_territories(
    sessions: async_sessionmaker[AsyncSession], parent_id: uuid.UUID | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    async with sessions() as session:
        rows = await q.territories_page(session, parent_id=parent_id, after=after, limit=limit)
    return [dict(r) for r in rows]


async def dashboard(
    sessions: async_sessionmaker[AsyncSession], territory_id: uuid.UUID, when: Period
) -> dict[str, Any]:
    async with sessions() as session, session.begin():
        await q.consistent_snapshot(session)
        place = await _territory(session, territory_id)
        counts = await q.problem_counts(session, territory_id, when.since, when.until)
        weeks = await q.weekly(session, territory_id, when.since, when.until)
        times = await q.response_times(session, territory_id, when.since, when.until)
        children = await q.children_counts(session, territory_id, when.since, when.until)
    categories: dict[str, dict[str, Any]] = {}
    statuses: dict[str, int] = {}
    for row in counts:
        code = row["category_code"] or "unknown"
        item = categories.setdefault(code, {"code": code, "name": row["category_name"], "count": 0, "solved": 0})
        item["count"] += row["n"]
        if row["status"] == "solved":
            item["solved"] += row["n"]
        statuses[row["status"]] = statuses.get(row["status"], 0) + row["n"]
    reported = sum(statuses.values())
    solved = statuses.get("solved", 0)
    return {
        "territory": _territory_out(place),
        "since": when.since,
        "until": when.until,
        "reported": reported,
        "solved": solved,
        "share_solved": _share(solved, reported),
        "by_category": sorted(categories.values(), key=lambda c: (-c["count"], c["code"])),
        "by_status": [{"status": k, "count": v} for k, v in sorted(statuses.items(), key=lambda kv: -kv[1])],
        "weekly": [{"week": w["week"], "new": w["new"], "solved": w["solved"]} for w in weeks],
        "response_times": _times(times.get(territory_id)),
        "children": [
            {
                "territory_id": c["id"],
                "oktmo": c["oktmo"],
                "name": c["name"],
                "reported": c["reported"],
                "solved": c["solved"],
                "share_solved": _share(c["solved"], c["reported"]),
                **_times(times.get(c["id"])),
            }
            for c in children
        ],
    }


def _territory_out(row: RowMapping) -> dict[str, Any]:
    return {k: row[k] for k in ("id", "oktmo", "name", "level", "parent_id", "timezone")}


def _times(found: tuple[int, list[int], list[int]] | None) -> dict[str, Any]:
    """Median and p90 hours to registration and days to answer, from the histograms of the rollup (within
    :data:`analytics.domain.histogram.RELATIVE_PRECISION` of the exact percentiles)."""
    appeals, registration, answer = found or (0, [], [])

    def at(values: list[int], q: float, unit: float) -> float | None:
        value = histogram.percentile(values, q)
        return None if value is None else _num(value / unit)

    return {
        "appeals": appeals,
        "registration_median_hours": at(registration, 0.5, 3600),
        "registration_p90_hours": at(registration, 0.9, 3600),
        "answer_median_days": at(answer, 0.5, 86400),
        "answer_p90_days": at(answer, 0.9, 86400),
    }


@dataclass(frozen=True)
class OverdueFilter:
    territory_id: uuid.UUID
    authority_id: uuid.UUID | None = None
    department_id: uuid.UUID | None = None
    min_days: float = 0.0
    include_answered: bool = False
    """Also appeals answered after their deadline, not only those overdue now."""

    def params(self, now: datetime) -> dict[str, Any]:
        return {
            "t": self.territory_id,
            "authority": self.authority_id,
            "department": self.department_id,
            "min_days": self.min_days,
            "include_answered": self.include_answered,
            "now": now,
        }


async def overdue_summary(
    sessions: async_sessionmaker[AsyncSession], where: OverdueFilter, sort: str, descending: bool
) -> dict[str, Any]:
    async with sessions() as session:
        place = await _territory(session, where.territory_id)
        rows = await q.overdue_by_department(session, where.params(datetime.now(UTC)), sort, descending)
    return {"territory": _territory_out(place), "items": [dict(r) for r in rows]}


async def overdue_appeals(
    sessions: async_sessionmaker[AsyncSession],
    where: OverdueFilter,
    sort: str,
    descending: bool,
    after: list[Any] | None,
    limit: int,
) -> list[dict[str, Any]]:
    async with sessions() as session:
        await _territory(session, where.territory_id)
        rows = await q.overdue_appeals(session, where.params(datetime.now(UTC)), sort, descending, after, limit)
    return [dict(r) for r in rows]


async def stream_overdue_appeals(
    sessions: async_sessionmaker[AsyncSession], where: OverdueFilter, sort: str, descending: bool, cap: int
) -> AsyncIterator[dict[str, Any]]:
    async with sessions() as session, session.begin():
        await _territory(session, where.territory_id)
        async for row in q.stream_overdue_appeals(session, where.params(datetime.now(UTC)), sort, descending, cap):
            yield dict(row)


async def rating(
    sessions: async_sessionmaker[AsyncSession], territory_id: uuid.UUID, when: Period, min_votes: int
) -> tuple[dict[str, Any], list[RatedDepartment]]:
    async with sessions() as session:
        place = await _territory(session, territory_id)
        votes = await q.department_votes(session, territory_id, when.since, when.until)
    return _territory_out(place), rank(votes, min_votes=min_votes)


async def authority_card(
    sessions: async_sessionmaker[AsyncSession], authority_id: uuid.UUID, when: Period
) -> dict[str, Any]:
    async with sessions() as session:
        who = await q.authority(session, authority_id)
        if who is None:
            raise NotFound(str(authority_id))
        tz = "Europe/Moscow"  # the zone of the rollup authority_days (migration 0007)
        rows = await q.authority_card(session, authority_id, when.since, when.until, tz)
    total = next((r for r in rows if r["month"] is None), None)

    def figures(row: RowMapping | None) -> dict[str, Any]:
        appeals = row["appeals"] if row else 0
        answered = row["answered"] if row else 0
        return {
            "appeals": appeals,
            "answered": answered,
            "overdue_now": row["overdue_now"] if row else 0,
            "on_time_rate": _share(row["answered_on_time"], answered) if row else None,
            "avg_answer_days": _num(row["avg_answer_days"]) if row else None,
            "share_solved": _share(row["solved"], appeals) if row else None,
        }

    return {
        "authority": dict(who),
        "since": when.since,
        "until": when.until,
        **figures(total),
        "trend": [{"month": r["month"], **figures(r)} for r in rows if r["month"] is not None],
    }


async def heatmap(
    sessions: async_sessionmaker[AsyncSession],
    bbox: tuple[float, float, float, float],
    zoom: int,
    when: Period,
    category: str | None,
) -> dict[str, Any]:
    cell = grid.cell_size(zoom)
    since, until = when.bounds("Europe/Moscow")
    async with sessions() as session:
        rows = await q.heatmap(session, bbox, cell, since, until, category)
    features = []
    for r in rows:
        x0, y0 = r["x"] * cell, r["y"] * cell
        ring = [[x0, y0], [x0 + cell, y0], [x0 + cell, y0 + cell], [x0, y0 + cell], [x0, y0]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [[[round(a, 7), round(b, 7)] for a, b in ring]]},
                "properties": {"count": r["n"]},
            }
        )
    return {"type": "FeatureCollection", "features": features, "cell_degrees": cell, "zoom": zoom}


async def stream_open_problems(
    sessions: async_sessionmaker[AsyncSession], territory_id: uuid.UUID, when: Period
) -> AsyncIterator[dict[str, Any]]:
    async with sessions() as session, session.begin():
        place = await _territory(session, territory_id)
        since, until = when.bounds(_tz(place))
        async for row in q.stream_open_problems(session, territory_id, since, until, OPEN_DATA_DECIMALS):
            yield dict(row)


async def ensure_territory(sessions: async_sessionmaker[AsyncSession], territory_id: uuid.UUID) -> None:
    async with sessions() as session:
        await _territory(session, territory_id)
