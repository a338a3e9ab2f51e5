"""Read queries of the reports, over the read models (schema ``analytics``). All parameters are bound."""
# ruff: noqa: S608 - only our own SQL fragments and allow-listed sort columns are interpolated; values are bound

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import RowMapping, text
from sqlalchemy.ext.asyncio import AsyncSession

from analytics.domain import histogram
from analytics.domain.rating import DepartmentVotes

PUBLIC_STATUSES = "('moderation', 'rejected', 'merged', 'withdrawn')"
"""Statuses not counted as problems of the territory (not published, or not a problem of their own)."""


async def consistent_snapshot(session: AsyncSession) -> None:
    """Make the transaction's queries see one snapshot (a report built of several queries adds up)."""
    await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"))


async def territory(session: AsyncSession, territory_id: uuid.UUID) -> RowMapping | None:
    row = await session.execute(
        text("SELECT id, oktmo, name, level, parent_id, timezone FROM territories WHERE id = :t"),
        {"t": territory_id},
    )
    return row.mappings().first()


async def territories_page(
    session: AsyncSession, *, parent_id: uuid.UUID | None, after: str | None, limit: int
) -> Sequence[RowMapping]:
    rows = await session.execute(
        text(
            "SELECT id, oktmo, name, level, parent_id, timezone FROM territories"
            " WHERE (CAST(:parent AS uuid) IS NULL OR parent_id = CAST(:parent AS uuid))"
            "   AND (CAST(:after AS text) IS NULL OR oktmo > CAST(:after AS text))"
            " ORDER BY oktmo LIMIT :limit"
        ),
        {"parent": parent_id, "after": after, "limit": limit},
    )
    return rows.mappings().all()


_PERIOD = "reported_at >= :since AND reported_at < :until AND territory_path @> ARRAY[CAST(:t AS uuid)]"


def _problem_rows(columns: str, territory: str = ":t") -> str:
    """Rows of the problem rollups covering ``[since, until)`` exactly: ``problem_weeks`` for the whole weeks,
    ``problem_days`` for the days around them (:func:`_whole_weeks`); ``week`` is each row's Monday."""
    return f"""
        SELECT week, {columns} FROM problem_weeks
         WHERE territory_id = {territory} AND week >= :first AND week < :last
        UNION ALL
        SELECT date_trunc('week', day::timestamp)::date, {columns} FROM problem_days
         WHERE territory_id = {territory} AND ((day >= :since AND day < :first) OR (day >= :last AND day < :until))
    """


def _period(territory_id: uuid.UUID, since: date, until: date) -> dict[str, Any]:
    first, last = _whole_weeks(since, until)
    return {"t": territory_id, "since": since, "until": until, "first": first, "last": last}


async def problem_counts(
    session: AsyncSession, territory_id: uuid.UUID, since: date, until: date
) -> Sequence[RowMapping]:
    """Problems reported in the period (local days, ``until`` exclusive) by category and status, from the
    rollups."""
    rows = await session.execute(
        text(
            f"SELECT NULLIF(category_code, '') AS category_code, min(NULLIF(category_name, '')) AS category_name,"
            f" status, sum(reported)::int AS n"
            f" FROM ({_problem_rows('category_code, category_name, status, reported')}) r"
            f" GROUP BY category_code, status HAVING sum(reported) > 0"
        ),
        _period(territory_id, since, until),
    )
    return rows.mappings().all()


async def weekly(session: AsyncSession, territory_id: uuid.UUID, since: date, until: date) -> Sequence[RowMapping]:
    """New (reported) and solved problems per week (weeks start on Monday; days are local to the territory)."""
    rows = await session.execute(
        text(
            f"""
            SELECT week, sum(reported)::int AS new, sum(solved)::int AS solved
              FROM ({_problem_rows("reported, solved")}) r
             GROUP BY 1 HAVING sum(reported) > 0 OR sum(solved) > 0 ORDER BY 1
            """
        ),
        _period(territory_id, since, until),
    )
    return rows.mappings().all()


_SPANS = """((r.span = 'week' AND r.start >= :first AND r.start < :last)
       OR (r.span = 'day' AND r.start >= :since AND r.start < :first)
       OR (r.span = 'day' AND r.start >= :last AND r.start < :until))"""
"""Rows of a rollup by span (``r``) covering ``[since, until)`` exactly: whole weeks and the days around them."""


def _whole_weeks(since: date, until: date) -> tuple[date, date]:
    """The Mondays ``[first, last)`` of the weeks that lie wholly in ``[since, until)``; the days outside them
    are read day by day. Both ``since`` when no whole week fits."""
    first = since + timedelta(days=(7 - since.weekday()) % 7)
    last = until - timedelta(days=until.weekday())
    return (first, last) if first < last else (since, since)


async def response_times(
    session: AsyncSession, territory_id: uuid.UUID, since: date, until: date
) -> dict[uuid.UUID, tuple[int, list[int], list[int]]]:
    """Appeals sent in the period (local days, ``until`` exclusive) and the histograms of their times to
    registration and to answer (:mod:`analytics.domain.histogram`), for the territory and each of its children,
    from the rollup ``appeal_times``: whole weeks, and single days at the edges of the period, so at most
    about 37 rows per territory whatever the number of appeals."""
    first, last = _whole_weeks(since, until)
    rows = await session.execute(
        text(
            f"""
            SELECT r.territory_id, r.appeals, r.registration, r.answer FROM appeal_times r
             WHERE (r.territory_id = :t OR r.territory_id IN (SELECT id FROM territories WHERE parent_id = :t))
               AND {_SPANS}
            """
        ),
        {"t": territory_id, "since": since, "until": until, "first": first, "last": last},
    )
    found: dict[uuid.UUID, tuple[int, list[list[int]], list[list[int]]]] = {}
    for row in rows:
        appeals, registration, answer = found.setdefault(row.territory_id, (0, [], []))
        registration.append(row.registration)
        answer.append(row.answer)
        found[row.territory_id] = (appeals + row.appeals, registration, answer)
    return {
        place: (appeals, histogram.add(registration), histogram.add(answer))
        for place, (appeals, registration, answer) in found.items()
    }


async def children_counts(
    session: AsyncSession, territory_id: uuid.UUID, since: date, until: date
) -> Sequence[RowMapping]:
    """Problems reported in the period and solved now, per child territory (from the rollups)."""
    rows = await session.execute(
        text(
            f"""
            SELECT c.id, c.oktmo, c.name, COALESCE(p.reported, 0) AS reported, COALESCE(p.solved, 0) AS solved
              FROM territories c
              LEFT JOIN LATERAL (
                SELECT sum(d.reported)::int AS reported,
                       (sum(d.reported) FILTER (WHERE d.status = 'solved'))::int AS solved
                  FROM ({_problem_rows("status, reported", "c.id")}) d) p ON true
             WHERE c.parent_id = :t ORDER BY c.name
            """
        ),
        _period(territory_id, since, until),
    )
    return rows.mappings().all()


# --- overdue -----------------------------------------------------------------------------------------------

_OVERDUE = """
  FROM appeals a
  LEFT JOIN authorities d ON d.id = a.department_id
  LEFT JOIN territories t ON t.id = a.territory_id
  CROSS JOIN LATERAL (
    SELECT CASE WHEN a.answered_at IS NULL AND a.answer_due_at < CAST(:now AS timestamptz) THEN 'answer'
                WHEN a.answered_at IS NULL AND a.registered_at IS NULL
                     AND a.registration_due_at < CAST(:now AS timestamptz) THEN 'registration'
                WHEN a.answered_at > a.answer_due_at THEN 'answered_late' END AS kind) k
  CROSS JOIN LATERAL (
    SELECT extract(epoch FROM (CASE k.kind WHEN 'answer' THEN CAST(:now AS timestamptz) - a.answer_due_at
                                           WHEN 'registration' THEN CAST(:now AS timestamptz) - a.registration_due_at
                                           ELSE a.answered_at - a.answer_due_at END)) / 86400 AS days) o
 WHERE a.territory_path @> ARRAY[CAST(:t AS uuid)] AND k.kind IS NOT NULL
   AND (:include_answered OR k.kind <> 'answered_late')
   AND (CAST(:authority AS uuid) IS NULL OR a.authority_id = CAST(:authority AS uuid))
   AND (CAST(:department AS uuid) IS NULL OR a.department_id = CAST(:department AS uuid))
   AND o.days >= :min_days
"""
_OPEN_ONLY = "\n   AND a.answered_at IS NULL"
"""Implied by ``kind <> 'answered_late'``; spelled out so that the partial index of open appeals is used."""


def _overdue(params: dict[str, Any]) -> str:
    return _OVERDUE if params["include_answered"] else _OVERDUE + _OPEN_ONLY


OVERDUE_GROUP_SORTS = {
    "overdue": "overdue",
    "days": "avg_days_overdue",
    "max_days": "max_days_overdue",
    "escalations": "escalations",
    "authority": "authority_name",
}


async def overdue_by_department(
    session: AsyncSession, params: dict[str, Any], sort: str, descending: bool
) -> Sequence[RowMapping]:
    order = OVERDUE_GROUP_SORTS[sort]
    direction = "DESC" if descending else "ASC"
    rows = await session.execute(
        text(
            f"""
            SELECT a.authority_id, min(a.authority_name) AS authority_name, a.department_id,
                   min(d.name) AS department_name, count(*) AS overdue,
                   round(avg(o.days)::numeric, 1)::float8 AS avg_days_overdue,
                   round(max(o.days)::numeric, 1)::float8 AS max_days_overdue,
                   sum(a.extensions)::int AS extensions, sum(a.escalations)::int AS escalations
              {_overdue(params)}
             GROUP BY a.authority_id, a.department_id
             ORDER BY {order} {direction}, a.authority_id, a.department_id NULLS FIRST
            """
        ),
        params,
    )
    return rows.mappings().all()


OVERDUE_APPEAL_SORTS = {"days": "o.days", "due": "due_at", "sent": "a.sent_at"}


def _appeal_select(sort: str, params: dict[str, Any]) -> str:
    return f"""
        SELECT a.id, a.problem_id, a.authority_id, a.authority_name, a.department_id, d.name AS department_name,
               a.territory_id, t.name AS territory_name, a.category_id, a.sent_at, a.registered_at,
               a.registration_number,
               CASE k.kind WHEN 'registration' THEN a.registration_due_at ELSE a.answer_due_at END AS due_at,
               a.answered_at, k.kind, round(o.days::numeric, 1)::float8 AS days_overdue,
               a.extensions, a.escalations, a.forwards, {OVERDUE_APPEAL_SORTS[sort]} AS sort_value
          {_overdue(params)}
    """


async def overdue_appeals(
    session: AsyncSession,
    params: dict[str, Any],
    sort: str,
    descending: bool,
    after: list[Any] | None,
    limit: int,
) -> Sequence[RowMapping]:
    """Keyset pagination on ``(sort value, id)``."""
    op = "<" if descending else ">"
    direction = "DESC" if descending else "ASC"
    keyset = ""
    values = dict(params, limit=limit)
    if after is not None:
        keyset = f"AND ({OVERDUE_APPEAL_SORTS[sort]}, a.id) {op} (CAST(:after_value AS {_cast(sort)}), :after_id)"
        values.update(after_value=after[0], after_id=uuid.UUID(str(after[1])))
    rows = await session.execute(
        text(f"{_appeal_select(sort, params)} {keyset} ORDER BY sort_value {direction}, a.id {direction} LIMIT :limit"),
        values,
    )
    return rows.mappings().all()


def _cast(sort: str) -> str:
    return "float8" if sort == "days" else "timestamptz"


async def stream_overdue_appeals(
    session: AsyncSession, params: dict[str, Any], sort: str, descending: bool, cap: int
) -> AsyncIterator[RowMapping]:
    direction = "DESC" if descending else "ASC"
    result = await session.stream(
        text(f"{_appeal_select(sort, params)} ORDER BY sort_value {direction}, a.id {direction} LIMIT :cap"),
        dict(params, cap=cap),
    )
    async for row in result.mappings():
        yield row


# --- the people's rating -----------------------------------------------------------------------------------


async def department_votes(
    session: AsyncSession, territory_id: uuid.UUID, since: date, until: date
) -> list[DepartmentVotes]:
    """Votes per department (or authority, for an appeal with no department) of the territory's appeals, in the
    period (local days, ``until`` exclusive), from the rollup ``vote_days`` (whole weeks and edge days).

    A vote belongs to the appeal it names; a vote without one, to the problem's latest appeal."""
    first, last = _whole_weeks(since, until)
    rows = await session.execute(
        text(
            f"""
            SELECT r.unit_id AS department_id, COALESCE(min(d.name), min(r.authority_name)) AS name,
                   sum(r.votes)::int AS votes, sum(r.total)::int AS total, sum(r.ratings)::int AS ratings,
                   sum(r.confirmations)::int AS confirmations, sum(r.disputes)::int AS disputes
              FROM vote_days r LEFT JOIN authorities d ON d.id = r.unit_id AND r.via_department
             WHERE r.territory_id = :t AND {_SPANS}
             GROUP BY r.unit_id
            """
        ),
        {"t": territory_id, "since": since, "until": until, "first": first, "last": last},
    )
    return [
        DepartmentVotes(str(r.department_id), r.name or "", r.votes, r.total, r.ratings, r.confirmations, r.disputes)
        for r in rows
    ]


# --- authority card ----------------------------------------------------------------------------------------


async def authority(session: AsyncSession, authority_id: uuid.UUID) -> RowMapping | None:
    row = await session.execute(
        text(
            "SELECT a.id, a.name, a.kind, a.parent_id, p.name AS parent_name, a.territory_id, t.name AS territory_name"
            " FROM authorities a LEFT JOIN authorities p ON p.id = a.parent_id"
            " LEFT JOIN territories t ON t.id = a.territory_id WHERE a.id = :a"
        ),
        {"a": authority_id},
    )
    return row.mappings().first()


def _whole_months(since: date, until: date) -> tuple[date, date]:
    """The first days ``[first, last)`` of the months that lie wholly in ``[since, until)``; the days outside them
    are read day by day. Both ``since`` when no whole month fits."""
    first = since if since.day == 1 else (since.replace(day=1) + timedelta(days=32)).replace(day=1)
    last = until.replace(day=1)
    return (first, last) if first < last else (since, since)


async def authority_card(
    session: AsyncSession, authority_id: uuid.UUID, since: date, until: date, tz: str
) -> Sequence[RowMapping]:
    """Totals (``month`` null) and one row per month of appeals sent in the period (local days of ``tz``,
    ``until`` exclusive) to the authority or to it as a department: from the rollup ``authority_days`` (whole
    months, and single days at the edges), and "overdue now", which depends on the clock, from the open appeals
    alone (a partial index each for authorities and departments)."""
    first, last = _whole_months(since, until)
    zone = ZoneInfo(tz)
    rows = await session.execute(
        text(
            """
            SELECT month, COALESCE(sum(appeals), 0)::int AS appeals, COALESCE(sum(answered), 0)::int AS answered,
                   COALESCE(sum(on_time), 0)::int AS answered_on_time,
                   COALESCE(sum(overdue), 0)::int AS overdue_now,
                   (sum(answer_seconds) / NULLIF(sum(answered), 0) / 86400)::float8 AS avg_answer_days,
                   COALESCE(sum(solved), 0)::int AS solved
              FROM (
                SELECT r.start AS month, r.appeals, r.answered, r.on_time, r.answer_seconds, r.solved, 0 AS overdue
                  FROM authority_days r
                 WHERE r.unit_id = :a AND r.span = 'month' AND r.start >= :first AND r.start < :last
                UNION ALL
                SELECT date_trunc('month', r.start::timestamp)::date, r.appeals, r.answered, r.on_time,
                       r.answer_seconds, r.solved, 0
                  FROM authority_days r
                 WHERE r.unit_id = :a AND r.span = 'day'
                   AND ((r.start >= :since AND r.start < :first) OR (r.start >= :last AND r.start < :until))
                UNION ALL
                SELECT date_trunc('month', a.sent_at AT TIME ZONE :tz)::date, 0, 0, 0, 0, 0, 1
                  FROM appeals a
                 WHERE (a.authority_id = :a OR a.department_id = :a) AND a.answered_at IS NULL
                   AND a.answer_due_at < now() AND a.sent_at >= :since_at AND a.sent_at < :until_at
              ) c
             GROUP BY GROUPING SETS ((), (1))
             ORDER BY 1 NULLS FIRST
            """
        ),
        {
            "a": authority_id,
            "since": since,
            "until": until,
            "first": first,
            "last": last,
            "tz": tz,
            "since_at": datetime.combine(since, time(), zone),
            "until_at": datetime.combine(until, time(), zone),
        },
    )
    return rows.mappings().all()


# --- heat map and open data --------------------------------------------------------------------------------


async def heatmap(
    session: AsyncSession,
    bbox: tuple[float, float, float, float],
    cell: float,
    since: datetime,
    until: datetime,
    category: str | None,
) -> Sequence[RowMapping]:
    rows = await session.execute(
        text(
            f"""
            SELECT floor(ST_X(point) / :cell)::bigint AS x, floor(ST_Y(point) / :cell)::bigint AS y, count(*) AS n
              FROM problems
             WHERE point && ST_MakeEnvelope(:x0, :y0, :x1, :y1, 4326)
               AND reported_at >= :since AND reported_at < :until AND status NOT IN {PUBLIC_STATUSES}
               AND (CAST(:category AS text) IS NULL OR category_code = CAST(:category AS text))
             GROUP BY 1, 2 ORDER BY 1, 2
            """
        ),
        {
            "cell": cell,
            "x0": bbox[0],
            "y0": bbox[1],
            "x1": bbox[2],
            "y1": bbox[3],
            "since": since,
            "until": until,
            "category": category,
        },
    )
    return rows.mappings().all()


async def stream_open_problems(
    session: AsyncSession, territory_id: uuid.UUID, since: datetime, until: datetime, decimals: int
) -> AsyncIterator[RowMapping]:
    result = await session.stream(
        text(
            f"""
            SELECT p.id, p.category_code, p.category_name, p.status, p.reported_at, p.published_at, p.solved_at,
                   t.oktmo AS territory_oktmo, t.name AS territory_name,
                   round(ST_X(p.point)::numeric, :d)::float8 AS lon, round(ST_Y(p.point)::numeric, :d)::float8 AS lat
              FROM problems p LEFT JOIN territories t ON t.id = p.territory_id
             WHERE {_PERIOD.replace("reported_at", "p.reported_at").replace("territory_path", "p.territory_path")}
               AND p.status NOT IN {PUBLIC_STATUSES}
             ORDER BY p.reported_at, p.id
            """
        ),
        {"t": territory_id, "since": since, "until": until, "d": decimals},
    )
    async for row in result.mappings():
        yield row
