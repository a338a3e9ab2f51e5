"""Public reports of the analytics service, under ``/api/v1/analytics``.

Who may call: everything here is public (aggregates, no personal data), **except** the per-appeal overdue list
``GET /api/v1/analytics/territories/{id}/overdue/appeals`` (see :func:`overdue_appeals`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from analytics.api import exports
from analytics.api.models import (
    AuthorityCard,
    Dashboard,
    OverdueAppeal,
    OverdueSummary,
    RatingOut,
    TerritoryOut,
)
from analytics.domain import heatmap as grid
from analytics.domain.rating import DEFAULT_MIN_VOTES
from analytics.usecases import reports
from servicekit.app import service_context
from servicekit.http.pagination import Page, PageRequest, make_page, page_request
from servicekit.http.problems import ProblemError
from servicekit.security import Principal, current_principal

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

RATING_METHOD_RU = """
**Методика народного рейтинга служб.** Голоса — это оценки жителей: оценка ответа от 1 до 5 звёзд
(`problems.problem.rated`), подтверждение, что проблема решена (считается как 5), и оспаривание решения —
повторное открытие проблемы (считается как 1). Голос относится к обращению, которое он называет, а если
обращение не указано — к последнему обращению по этой проблеме; служба — подведомственная служба
обращения, а если её нет — сам орган власти. Итоговый балл — байесовское среднее:

`балл = (C · m + сумма голосов) / (C + n)`,

где `n` — число голосов службы, `m` — средняя оценка всех служб территории за период, `C` — минимальное
число голосов (параметр `min_votes`, по умолчанию 10). Так служба с тремя пятёрками не обгоняет службу с
двумя сотнями четвёрок: пока голосов мало, балл близок к среднему по территории. Службы, у которых меньше
`C` голосов, показываются без места в рейтинге. Места считаются среди служб территории (с учётом
вложенных территорий); рядом с баллом всегда показано число голосов.
"""


class Format(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


def _sessions(request: Request) -> Any:
    return service_context(request).session_factory


Since = Annotated[date | None, Query(description="First day of the period (the territory's time zone).")]
Until = Annotated[date | None, Query(description="Last day of the period, inclusive; default today.")]


def _period(since: date | None, until: date | None) -> reports.Period:
    if since and until and since > until:
        raise ProblemError(
            422,
            "Начало периода позже его конца.",
            errors=[{"field": "query.since", "message": "Начало периода позже его конца."}],
        )
    if until:
        until = date.fromordinal(until.toordinal() + 1)
    return reports.period(since, until)


def _not_found(what: str) -> ProblemError:
    return ProblemError(404, f"{what} не найден(а) в аналитике: о нём ещё не было событий.")


@router.get("/territories", response_model=Page[TerritoryOut])
async def territories(
    request: Request,
    page: Annotated[PageRequest, Depends(page_request)],
    parent_id: uuid.UUID | None = None,
) -> Page[TerritoryOut]:
    """Territories analytics knows, by OKTMO code; ``parent_id`` lists one territory's children. Public."""
    after = str(page.after[0]) if page.after else None
    rows = await reports.list_territories(_sessions(request), parent_id, after, page.limit + 1)
    return make_page([TerritoryOut(**r) for r in rows], page, lambda t: [t.oktmo])


@router.get(
    "/territories/{territory_id}/dashboard",
    response_model=Dashboard,
    responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}},
)
async def dashboard(
    request: Request,
    territory_id: uuid.UUID,
    since: Since = None,
    until: Until = None,
    format: Format = Format.json,
    table: Annotated[
        str, Query(pattern="^(weekly|categories|statuses|children)$", description="Which table a CSV holds.")
    ] = "weekly",
) -> Any:
    """The territory dashboard for any territory and period: problems by category and status, new vs solved per
    week, the share solved, median and p90 time to registration (hours) and to answer (days), and the same by
    child territory. Counts include the territory's children; problems on moderation, rejected, merged or
    withdrawn are not counted. ``format=csv`` gives one ``table``, ``format=xlsx`` all of them. Public."""
    try:
        data = await reports.dashboard(_sessions(request), territory_id, _period(since, until))
    except reports.NotFound as error:
        raise _not_found("Территория") from error
    if format is Format.json:
        return data
    tables = _dashboard_tables(data)
    name = f"dashboard-{data['territory']['oktmo']}-{data['since']}-{data['until']}"
    if format is Format.csv:
        columns, rows = tables[table]
        return exports.csv_response(f"{name}-{table}.csv", columns, rows)
    return await exports.xlsx_response(f"{name}.xlsx", [(k, c, r) for k, (c, r) in tables.items()])


def _dashboard_tables(data: dict[str, Any]) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    return {
        "weekly": (["week", "new", "solved"], data["weekly"]),
        "categories": (["code", "name", "count", "solved"], data["by_category"]),
        "statuses": (["status", "count"], data["by_status"]),
        "children": (
            [
                "territory_id",
                "oktmo",
                "name",
                "reported",
                "solved",
                "share_solved",
                "appeals",
                "registration_median_hours",
                "registration_p90_hours",
                "answer_median_days",
                "answer_p90_days",
            ],
            data["children"],
        ),
    }


@router.get(
    "/territories/{territory_id}/trend.png", response_class=Response, responses={200: {"content": {"image/png": {}}}}
)
async def trend_chart(request: Request, territory_id: uuid.UUID, since: Since = None, until: Until = None) -> Response:
    """The weekly trend (new and solved problems) of a territory as a PNG chart. Public."""
    try:
        data = await reports.dashboard(_sessions(request), territory_id, _period(since, until))
    except reports.NotFound as error:
        raise _not_found("Территория") from error
    title = f"{data['territory']['name']}: {data['since']:%d.%m.%Y} — {data['until']:%d.%m.%Y}"
    return await exports.trend_png(title, data["weekly"])


class OverdueSort(StrEnum):
    overdue = "overdue"
    days = "days"
    max_days = "max_days"
    escalations = "escalations"
    authority = "authority"


class Order(StrEnum):
    asc = "asc"
    desc = "desc"


def _overdue_filter(
    territory_id: uuid.UUID,
    authority_id: uuid.UUID | None = None,
    department_id: uuid.UUID | None = None,
    min_days: Annotated[float, Query(ge=0, le=3650, description="Only appeals at least this many days late.")] = 0,
    include_answered: Annotated[bool, Query(description="Also appeals answered after their deadline.")] = False,
) -> reports.OverdueFilter:
    return reports.OverdueFilter(territory_id, authority_id, department_id, min_days, include_answered)


Filter = Annotated[reports.OverdueFilter, Depends(_overdue_filter)]

OVERDUE_SUMMARY_COLUMNS = [
    "authority_id",
    "authority_name",
    "department_id",
    "department_name",
    "overdue",
    "avg_days_overdue",
    "max_days_overdue",
    "extensions",
    "escalations",
]


@router.get(
    "/territories/{territory_id}/overdue",
    response_model=OverdueSummary,
    responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}},
)
async def overdue(
    request: Request,
    where: Filter,
    sort: OverdueSort = OverdueSort.overdue,
    order: Order = Order.desc,
    format: Format = Format.json,
) -> Any:
    """The overdue report: appeals past their 59-FZ deadline (registration or answer) now, by authority and
    department: how many, days overdue (mean, max), extensions used, escalations. Filterable by authority,
    department and days; sortable. Counts only, no appeal, so public; the list of appeals is
    ``…/overdue/appeals``."""
    try:
        data = await reports.overdue_summary(_sessions(request), where, sort.value, order is Order.desc)
    except reports.NotFound as error:
        raise _not_found("Территория") from error
    if format is Format.json:
        return data
    name = f"overdue-{data['territory']['oktmo']}"
    if format is Format.csv:
        return exports.csv_response(f"{name}.csv", OVERDUE_SUMMARY_COLUMNS, data["items"])
    return await exports.xlsx_response(f"{name}.xlsx", [("overdue", OVERDUE_SUMMARY_COLUMNS, data["items"])])


class AppealSort(StrEnum):
    days = "days"
    due = "due"
    sent = "sent"


OVERDUE_APPEAL_COLUMNS = [
    "id",
    "problem_id",
    "authority_id",
    "authority_name",
    "department_id",
    "department_name",
    "territory_id",
    "territory_name",
    "category_id",
    "sent_at",
    "registered_at",
    "registration_number",
    "kind",
    "due_at",
    "answered_at",
    "days_overdue",
    "extensions",
    "escalations",
    "forwards",
]
EXPORT_CAP = 100_000
"""At most this many appeals in one CSV or XLSX export."""


def _may_see_appeals(principal: Principal, where: reports.OverdueFilter) -> reports.OverdueFilter:
    """Operators see every appeal. An official sees the appeals of their own authority only, and only when
    the token says which one (claim ``authority_id``; auth does not issue it yet, so today only operators)."""
    if principal.has_role("operator"):
        return where
    claimed = principal.claims.get("authority_id")
    if principal.has_role("official") and isinstance(claimed, str):
        try:
            own = uuid.UUID(claimed)
        except ValueError:
            own = None
        if own is not None and where.authority_id in (None, own):
            return reports.OverdueFilter(
                where.territory_id, own, where.department_id, where.min_days, where.include_answered
            )
    raise ProblemError(403, "Список обращений видят операторы и должностные лица своего органа власти.")


@router.get(
    "/territories/{territory_id}/overdue/appeals",
    response_model=Page[OverdueAppeal],
    responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}},
)
async def overdue_appeals(
    request: Request,
    where: Filter,
    principal: Annotated[Principal, Depends(current_principal)],
    page: Annotated[PageRequest, Depends(page_request)],
    sort: AppealSort = AppealSort.days,
    order: Order = Order.desc,
    format: Format = Format.json,
) -> Any:
    """The overdue appeals one by one, cursor-paginated (CSV/XLSX exports are not paginated: up to 100 000 rows).

    Who may call: role ``operator`` (every appeal); role ``official`` only with an ``authority_id`` claim in
    the token, and then only that authority's appeals. Anyone else: 401 without a token, 403 with one."""
    where = _may_see_appeals(principal, where)
    sessions = _sessions(request)
    descending = order is Order.desc
    try:
        if format is Format.json:
            rows = await reports.overdue_appeals(sessions, where, sort.value, descending, page.after, page.limit + 1)
            items = [OverdueAppeal(**r) for r in rows]
            return make_page(items, page, lambda a: [_sort_value(a, sort), str(a.id)])
        await reports.ensure_territory(sessions, where.territory_id)
    except reports.NotFound as error:
        raise _not_found("Территория") from error
    stream = reports.stream_overdue_appeals(sessions, where, sort.value, descending, EXPORT_CAP)
    if format is Format.csv:
        return exports.csv_stream("overdue-appeals.csv", OVERDUE_APPEAL_COLUMNS, stream)
    rows = [row async for row in stream]
    return await exports.xlsx_response("overdue-appeals.xlsx", [("appeals", OVERDUE_APPEAL_COLUMNS, rows)])


def _sort_value(appeal: OverdueAppeal, sort: AppealSort) -> Any:
    if sort is AppealSort.days:
        return appeal.days_overdue
    if sort is AppealSort.due:
        return appeal.due_at.isoformat() if appeal.due_at else None
    return appeal.sent_at.isoformat() if appeal.sent_at else None


RATING_COLUMNS = ["rank", "department_id", "name", "score", "mean", "votes", "ratings", "confirmations", "disputes"]


@router.get(
    "/territories/{territory_id}/rating",
    response_model=RatingOut,
    description="The people's rating of the territory's departments. Public.\n\n" + RATING_METHOD_RU,
    responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}},
)
async def rating(
    request: Request,
    territory_id: uuid.UUID,
    since: Since = None,
    until: Until = None,
    min_votes: Annotated[int, Query(ge=1, le=1000, description="C: the minimum number of votes to be ranked.")] = (
        DEFAULT_MIN_VOTES
    ),
    format: Format = Format.json,
) -> Any:
    try:
        place, ranked = await reports.rating(_sessions(request), territory_id, _period(since, until), min_votes)
    except reports.NotFound as error:
        raise _not_found("Территория") from error
    rows = [asdict(r) for r in ranked]
    if format is Format.json:
        return {"territory": place, "min_votes": min_votes, "items": rows}
    name = f"rating-{place['oktmo']}"
    if format is Format.csv:
        return exports.csv_response(f"{name}.csv", RATING_COLUMNS, rows)
    return await exports.xlsx_response(f"{name}.xlsx", [("rating", RATING_COLUMNS, rows)])


CARD_COLUMNS = ["month", "appeals", "answered", "overdue_now", "on_time_rate", "avg_answer_days", "share_solved"]


@router.get(
    "/authorities/{authority_id}/card",
    response_model=AuthorityCard,
    responses={200: {"content": {exports.CSV_TYPE: {}, exports.XLSX_TYPE: {}}}},
)
async def authority_card(
    request: Request,
    authority_id: uuid.UUID,
    since: Since = None,
    until: Until = None,
    format: Format = Format.json,
) -> Any:
    """An authority's (or department's) card for the period: on-time answer rate, average answer time in days,
    share of its appeals whose problem is solved, and the month-by-month trend (CSV/XLSX: the trend). Public."""
    try:
        data = await reports.authority_card(_sessions(request), authority_id, _period(since, until))
    except reports.NotFound as error:
        raise _not_found("Орган власти") from error
    if format is Format.json:
        return data
    if format is Format.csv:
        return exports.csv_response(f"authority-{authority_id}.csv", CARD_COLUMNS, data["trend"])
    return await exports.xlsx_response(f"authority-{authority_id}.xlsx", [("trend", CARD_COLUMNS, data["trend"])])


class HeatmapFeatures(BaseModel):
    type: str = "FeatureCollection"
    features: list[dict[str, Any]]
    cell_degrees: float
    zoom: int


@router.get("/heatmap", response_model=HeatmapFeatures, responses={200: {"content": {"application/geo+json": {}}}})
async def heatmap(
    request: Request,
    bbox: Annotated[str, Query(description="lon_min,lat_min,lon_max,lat_max (WGS84)", max_length=200)],
    zoom: Annotated[int, Query(ge=grid.MIN_ZOOM, le=grid.MAX_ZOOM)],
    since: Since = None,
    until: Until = None,
    category: Annotated[str | None, Query(max_length=64, description="A category code, e.g. roads.pothole")] = None,
) -> Response:
    """Counts of problems per grid cell in ``bbox`` at ``zoom``, as a GeoJSON FeatureCollection of square cells
    (8 × 8 cells per map tile) with ``properties.count``. Public."""
    box = _bbox(bbox)
    if grid.cell_count(box, zoom) > grid.MAX_CELLS:
        raise ProblemError(
            422,
            "Слишком большая область для этого масштаба: уменьшите область или масштаб.",
            errors=[{"field": "query.bbox", "message": "Слишком большая область для этого масштаба."}],
        )
    data = await reports.heatmap(_sessions(request), box, zoom, _period(since, until), category)
    return Response(json.dumps(data), media_type="application/geo+json")


def _bbox(raw: str) -> tuple[float, float, float, float]:
    bad = ProblemError(
        422,
        "Проверьте поле bbox: нужно «долгота_мин,широта_мин,долгота_макс,широта_макс».",
        errors=[
            {"field": "query.bbox", "message": "Нужно четыре числа: долгота_мин,широта_мин,долгота_макс,широта_макс."}
        ],
    )
    try:
        lon0, lat0, lon1, lat1 = (float(part) for part in raw.split(","))
    except ValueError as error:
        raise bad from error
    if not (-180 <= lon0 < lon1 <= 180 and -90 <= lat0 < lat1 <= 90):
        raise bad
    return lon0, lat0, lon1, lat1


OPEN_DATA_COLUMNS = [
    "id",
    "category_code",
    "category_name",
    "status",
    "reported_at",
    "published_at",
    "solved_at",
    "territory_oktmo",
    "territory_name",
    "lon",
    "lat",
]


@router.get(
    "/open-data/territories/{territory_id}/problems.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {exports.CSV_TYPE: {}}}},
)
async def open_problems_csv(
    request: Request, territory_id: uuid.UUID, since: Since = None, until: Until = None
) -> StreamingResponse:
    """Open data: the territory's published problems, anonymised (no author, no text, no photos, coordinates
    rounded to 0.001°), as CSV. A file to download, streamed: not paginated. Public."""
    sessions = _sessions(request)
    try:
        await reports.ensure_territory(sessions, territory_id)
    except reports.NotFound as error:
        raise _not_found("Территория") from error
    rows = reports.stream_open_problems(sessions, territory_id, _period(since, until))
    return exports.csv_stream("problems.csv", OPEN_DATA_COLUMNS, rows)


@router.get(
    "/open-data/territories/{territory_id}/problems.geojson",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/geo+json": {}}}},
)
async def open_problems_geojson(
    request: Request, territory_id: uuid.UUID, since: Since = None, until: Until = None
) -> StreamingResponse:
    """The same open data as GeoJSON (RFC 7946) points. Streamed, not paginated. Public."""
    sessions = _sessions(request)
    try:
        await reports.ensure_territory(sessions, territory_id)
    except reports.NotFound as error:
        raise _not_found("Территория") from error
    rows = reports.stream_open_problems(sessions, territory_id, _period(since, until))

    async def body() -> AsyncIterator[bytes]:
        yield b'{"type":"FeatureCollection","features":['
        first = True
        async for row in rows:
            feature = {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [row["lon"], row["lat"]]},
                "properties": {k: exports._cell(row[k]) for k in OPEN_DATA_COLUMNS if k not in ("lon", "lat")},
            }
            yield (b"" if first else b",") + json.dumps(feature, ensure_ascii=False, default=str).encode()
            first = False
        yield b"]}"

    return StreamingResponse(body(), media_type="application/geo+json")
