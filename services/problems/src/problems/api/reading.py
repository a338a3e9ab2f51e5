"""Reading the problems: the map (GeoJSON, clustered at low zoom) and the lists (filters, search, near me, mine).

Both are public: anyone may call them without a token. A token (audience ``problems``) widens what is seen:
the author sees their own problems in every status (and in private categories), moderators and operators see
all. ``mine=true`` needs a token.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from problems.api.deps import read_connection
from problems.db import reads
from problems.domain import clusters
from problems.domain.statuses import STATUS_NAMES
from problems.settings import ProblemsSettings
from servicekit.app import service_context
from servicekit.http.pagination import Page, PageRequest, encode_cursor, page_request
from servicekit.http.problems import ProblemError
from servicekit.security import Principal, optional_principal

router = APIRouter(prefix="/api/v1/problems", tags=["reading"])

PRIVILEGED_ROLES = frozenset({"moderator", "operator"})
MAX_RADIUS_M = 50_000
GEOJSON = "application/geo+json"


def _bad(field: str, message: str) -> ProblemError:
    return ProblemError(
        422,
        f"Проверьте поле {field}: {message}",
        title="Validation failed",
        errors=[{"field": field, "message": message}],
    )


def _viewer(principal: Principal | None) -> reads.Viewer:
    if principal is None:
        return reads.Viewer()
    try:
        user_id: uuid.UUID | None = uuid.UUID(principal.subject)
    except ValueError:
        user_id = None  # a partner client's token: sees what anyone sees
    return reads.Viewer(user_id=user_id, privileged=bool(PRIVILEGED_ROLES & principal.roles))


def _statuses(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    statuses = [s.strip() for value in values for s in value.split(",") if s.strip()]
    unknown = [s for s in statuses if s not in STATUS_NAMES]
    if unknown:
        raise _bad("query.status", f"неизвестный статус «{unknown[0]}».")
    return statuses


async def _filters(
    session: AsyncSession | AsyncConnection,
    *,
    map_code: str | None,
    category: str | None,
    status: list[str] | None,
    date_from: datetime | None,
    date_to: datetime | None,
    territory: uuid.UUID | None,
) -> reads.Filters:
    filters = reads.Filters(
        statuses=_statuses(status), reported_from=date_from, reported_to=date_to, territory_id=territory
    )
    if date_from is not None and date_to is not None and date_from >= date_to:
        raise _bad("query.from", "начало периода должно быть раньше конца.")
    if map_code is None and category is None:
        return filters
    try:
        if map_code is not None:
            filters.map_id = await reads.resolve_map(session, map_code)
        if category is not None:
            filters.category_ids = await reads.resolve_category(session, category)
    except reads.UnknownCode as error:
        field = "query.map" if str(error) == "map" else "query.category"
        raise _bad(field, "такого кода нет.") from None
    return filters


MapCode = Annotated[str | None, Query(alias="map", max_length=64, description="Thematic map code: `city`, …")]
CategoryCode = Annotated[str | None, Query(max_length=64, description="Category code; its subcategories are included.")]
StatusFilter = Annotated[list[str] | None, Query(description="Statuses (repeat the parameter or separate by commas).")]
DateFrom = Annotated[datetime | None, Query(alias="from", description="Reported at or after (ISO 8601).")]
DateTo = Annotated[datetime | None, Query(alias="to", description="Reported before (ISO 8601).")]
Territory = Annotated[uuid.UUID | None, Query(description="Territory id (routing's): problems inside it.")]


@router.get(
    "/map",
    summary="The problem map as GeoJSON",
    response_class=JSONResponse,
    responses={200: {"content": {GEOJSON: {}}, "description": "A GeoJSON FeatureCollection (RFC 7946)."}},
)
async def problem_map(
    request: Request,
    bbox: Annotated[str, Query(max_length=200, description="minLon,minLat,maxLon,maxLat (GeoJSON order).")],
    zoom: Annotated[int, Query(ge=0, le=clusters.MAX_ZOOM, description="Web map zoom level.")],
    map_code: MapCode = None,
    category: CategoryCode = None,
    status: StatusFilter = None,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    territory: Territory = None,
) -> Response:
    """Anyone (no token needed). Public problems of non-private categories only, whoever asks.

    Below zoom 13: clusters (``properties.cluster = true``, ``count``; the Feature's ``bbox`` is its grid cell).
    From zoom 13: the problems themselves, at most 500, nearest the view's centre first; ``truncated: true`` says
    there were more (zoom in or filter).
    """
    try:
        box = clusters.parse_bbox(bbox)
    except clusters.BBoxError as error:
        raise _bad("query.bbox", str(error)) from None
    async with read_connection(request) as connection:
        filters = await _filters(
            connection,
            map_code=map_code,
            category=category,
            status=status,
            date_from=date_from,
            date_to=date_to,
            territory=territory,
        )
        if clusters.shows_features(zoom):
            features, found = await reads.map_features_json(connection, filters, box, clusters.MAX_FEATURES)
            clustered, truncated, total = False, found > clusters.MAX_FEATURES, min(found, clusters.MAX_FEATURES)
        else:
            level = clusters.level_for_zoom(zoom)
            ranges = clusters.cell_ranges(box, level)
            features, total = await reads.map_clusters_json(connection, filters, level, ranges, box)
            clustered, truncated = True, False
    return Response(
        clusters.feature_collection_json(
            features, bbox=box, zoom=zoom, clustered=clustered, truncated=truncated, total=total
        ),
        media_type=GEOJSON,
    )


class PointOut(BaseModel):
    lon: float
    lat: float


class PhotoOut(BaseModel):
    id: uuid.UUID
    url: str
    thumbnail_url: str


class AuthorOut(BaseModel):
    display_name: str


class AuthorityOut(BaseModel):
    id: uuid.UUID
    name: str


class ProblemSummary(BaseModel):
    id: uuid.UUID
    map_code: str
    category_code: str
    category_name: str
    point: PointOut
    address: str
    title: str
    description: str
    extra: dict[str, Any]
    photos: list[PhotoOut]
    status: str
    status_name: str
    reported_at: datetime
    published_at: datetime | None
    updated_at: datetime
    supports_count: int
    comments_count: int
    author: AuthorOut | None
    authority: AuthorityOut | None
    appeal_id: uuid.UUID | None
    answer_due_at: datetime | None
    can_confirm_until: datetime | None
    rating: int | None
    distance_m: float | None = None
    """Only with ``near``: metres from the given point."""


def _photo_out(settings: ProblemsSettings, photo: dict[str, Any]) -> PhotoOut:
    base = f"{settings.public_base_url.rstrip('/')}/api/v1/problems/photos/{photo['id']}"
    return PhotoOut(id=photo["id"], url=f"{base}/file", thumbnail_url=f"{base}/thumbnail")


def _summary(settings: ProblemsSettings, row: dict[str, Any]) -> ProblemSummary:
    return ProblemSummary(
        id=row["id"],
        map_code=row["map_code"],
        category_code=row["category_code"],
        category_name=row["category_name"],
        point=PointOut(lon=row["lon"], lat=row["lat"]),
        address=row["address"],
        title=row["title"],
        description=row["description"],
        extra=row["extra"],
        photos=[_photo_out(settings, photo) for photo in row["photos"]],
        status=row["status"],
        status_name=STATUS_NAMES.get(row["status"], row["status"]),
        reported_at=row["reported_at"],
        published_at=row["published_at"],
        updated_at=row["updated_at"],
        supports_count=row["supports_count"],
        comments_count=row["comments_count"],
        author=None if row["anonymous"] or not row["display_name"] else AuthorOut(display_name=row["display_name"]),
        authority=None
        if row["authority_id"] is None
        else AuthorityOut(id=row["authority_id"], name=row["authority_name"] or ""),
        appeal_id=row["appeal_id"],
        answer_due_at=row["answer_due_at"],
        can_confirm_until=row["can_confirm_until"],
        rating=row["rating"],
        distance_m=round(row["distance"], 1) if row.get("distance") is not None else None,
    )


def _sort_key(sort: str, row: dict[str, Any]) -> list[Any]:
    if sort == "distance":
        return [row["distance"], str(row["id"])]
    if sort == "supports":
        return [row["supports_count"], str(row["id"])]
    return [row["reported_at"].isoformat(), str(row["id"])]


def _after(sort: str, cursor: list[Any] | None) -> list[Any] | None:
    """The cursor's sort key, checked and typed for ``sort`` (a cursor of another sort is refused)."""
    if cursor is None:
        return None
    error = ProblemError(
        400,
        "Неверный курсор страницы: запросите список с начала.",
        title="Invalid cursor",
        errors=[{"field": "query.cursor", "message": "Неверный курсор страницы."}],
    )
    if len(cursor) != 2 or not isinstance(cursor[1], str):
        raise error
    try:
        last_id = uuid.UUID(cursor[1])
        if sort == "distance":
            if not isinstance(cursor[0], int | float) or isinstance(cursor[0], bool):
                raise ValueError
            return [float(cursor[0]), last_id]
        if sort == "supports":
            if not isinstance(cursor[0], int) or isinstance(cursor[0], bool):
                raise ValueError
            return [cursor[0], last_id]
        at = datetime.fromisoformat(str(cursor[0]))
        if at.tzinfo is None:
            raise ValueError
        return [at, last_id]
    except ValueError:
        raise error from None


@router.get("", summary="List problems (filters, search, near me, mine)")
async def list_problems(
    request: Request,
    principal: Annotated[Principal | None, Depends(optional_principal)],
    page: Annotated[PageRequest, Depends(page_request)],
    map_code: MapCode = None,
    category: CategoryCode = None,
    status: StatusFilter = None,
    q: Annotated[
        str | None, Query(max_length=200, description="Full-text search (Russian), web-search syntax.")
    ] = None,
    bbox: Annotated[str | None, Query(max_length=200, description="minLon,minLat,maxLon,maxLat.")] = None,
    near: Annotated[str | None, Query(max_length=60, description="lon,lat: problems near this point.")] = None,
    radius_m: Annotated[int, Query(ge=10, le=MAX_RADIUS_M, description="Radius for `near`, metres.")] = 1000,
    territory: Territory = None,
    mine: Annotated[bool, Query(description="Only my problems (needs a token), in every status.")] = False,
    date_from: DateFrom = None,
    date_to: DateTo = None,
    sort: Annotated[
        Literal["new", "old", "supports", "distance"] | None,
        Query(description="Default `new`, or `distance` with `near`."),
    ] = None,
) -> Page[ProblemSummary]:
    """Anyone (no token needed); ``mine=true`` needs a token (401 without). Public problems for everyone; the
    author also sees their own in every status; moderators and operators see all. Cursor-paginated."""
    async with service_context(request).session_factory() as session:
        viewer = _viewer(principal)
        filters = await _filters(
            session,
            map_code=map_code,
            category=category,
            status=status,
            date_from=date_from,
            date_to=date_to,
            territory=territory,
        )
        if mine:
            if principal is None:
                raise ProblemError(
                    401,
                    "Чтобы увидеть свои проблемы, войдите в систему.",
                    headers={"WWW-Authenticate": 'Bearer realm="gorod"'},
                )
            if viewer.user_id is None:
                raise ProblemError(403, "Список «мои проблемы» доступен только жителю.")
            filters.author_id = viewer.user_id
        filters.q = q.strip() if q and q.strip() else None
        if bbox is not None:
            try:
                filters.bbox = clusters.parse_bbox(bbox)
            except clusters.BBoxError as error:
                raise _bad("query.bbox", str(error)) from None
        if near is not None:
            try:
                filters.near = clusters.parse_point(near)
            except clusters.BBoxError as error:
                raise _bad("query.near", str(error)) from None
            filters.radius_m = radius_m
        chosen = sort or ("distance" if filters.near is not None else "new")
        if chosen == "distance" and filters.near is None:
            raise _bad("query.sort", "сортировка по расстоянию требует параметра near.")
        after = _after(chosen, page.after)
        settings = service_context(request).settings
        assert isinstance(settings, ProblemsSettings)
        rows = await reads.problem_summaries(session, filters, viewer, sort=chosen, after=after, limit=page.limit + 1)
    more = len(rows) > page.limit
    items = rows[: page.limit]
    return Page[ProblemSummary](
        items=[_summary(settings, row) for row in items],
        next_cursor=encode_cursor(_sort_key(chosen, items[-1])) if more else None,
    )
