"""Read queries of the problem map and the problem lists (no writes here).

Visibility, everywhere: anyone sees public statuses of non-private problems; the author also sees their own
problems in any status; moderators and operators see everything. The public predicate is written exactly as the
partial indexes' (migration 0003), so the planner can use them for the common anonymous reads.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from geoalchemy2 import Geography
from sqlalchemy import (
    JSON,
    ColumnElement,
    Float,
    Integer,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import Select

from problems.db.subscription_tables import PUBLIC_PROBLEM, degrees_reach, map_cell_deltas, map_cells
from problems.db.tables import applicants, categories, maps, photos, problems
from problems.domain.clusters import PUBLIC_STATUSES, BBox, CellRange, cell_size
from problems.domain.statuses import STATUS_NAMES

p = problems


@dataclass(frozen=True)
class Viewer:
    """Who reads: ``user_id`` None for an anonymous reader; ``privileged`` for moderators and operators."""

    user_id: uuid.UUID | None = None
    privileged: bool = False


@dataclass
class Filters:
    map_id: uuid.UUID | None = None
    category_ids: list[uuid.UUID] | None = None
    statuses: list[str] | None = None
    """None: the public statuses (plus, for the author and the privileged, nothing more unless asked)."""
    reported_from: datetime | None = None
    reported_to: datetime | None = None
    territory_id: uuid.UUID | None = None
    q: str | None = None
    bbox: BBox | None = None
    author_id: uuid.UUID | None = None
    near: tuple[float, float] | None = None
    radius_m: int = 1000
    extra: dict[str, Any] = field(default_factory=dict)


class UnknownCode(LookupError):
    """A map or category code that does not exist (the message names the field)."""


async def resolve_map(session: AsyncSession | AsyncConnection, code: str) -> uuid.UUID:
    map_id = (await session.execute(select(maps.c.id).where(maps.c.code == code))).scalar_one_or_none()
    if map_id is None:
        raise UnknownCode("map")
    return uuid.UUID(str(map_id))


async def resolve_category(session: AsyncSession | AsyncConnection, code: str) -> list[uuid.UUID]:
    """The category and all its descendants (a filter on «ЖКХ» includes its subcategories)."""
    tree = select(categories.c.id).where(categories.c.code == code).cte("tree", recursive=True)
    tree = tree.union_all(select(categories.c.id).where(categories.c.parent_id == tree.c.id))
    ids = list((await session.execute(select(tree.c.id))).scalars())
    if not ids:
        raise UnknownCode("category")
    return ids


def _envelope(box: BBox) -> ColumnElement[Any]:
    return func.ST_MakeEnvelope(box.min_lon, box.min_lat, box.max_lon, box.max_lat, 4326)


def _in_bbox(bbox: BBox) -> ColumnElement[bool]:
    return or_(*[p.c.point.op("&&")(_envelope(part)) for part in bbox.parts()])


def _visible(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.privileged:
        return true()
    if viewer.user_id is None:
        return PUBLIC_PROBLEM  # type: ignore[return-value]
    return or_(PUBLIC_PROBLEM, p.c.author_id == viewer.user_id)


def _where(filters: Filters, viewer: Viewer) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [_visible(viewer)]
    if filters.statuses is not None:
        where.append(p.c.status.in_(filters.statuses))
    if filters.map_id is not None:
        where.append(p.c.map_id == filters.map_id)
    if filters.category_ids is not None:
        where.append(p.c.category_id.in_(filters.category_ids))
    if filters.reported_from is not None:
        where.append(p.c.reported_at >= filters.reported_from)
    if filters.reported_to is not None:
        where.append(p.c.reported_at < filters.reported_to)
    if filters.territory_id is not None:
        territories = literal([filters.territory_id], type_=postgresql.ARRAY(postgresql.UUID(as_uuid=True)))
        where.append(p.c.territory_ids.op("@>")(territories))
    if filters.q:
        where.append(p.c.search.op("@@")(func.websearch_to_tsquery(literal_column("'russian'::regconfig"), filters.q)))
    if filters.bbox is not None:
        where.append(_in_bbox(filters.bbox))
    if filters.author_id is not None:
        where.append(p.c.author_id == filters.author_id)
    if filters.near is not None:
        lon, lat = filters.near
        reach = degrees_reach(lat, filters.radius_m)
        where.append(p.c.point.op("&&")(func.ST_Expand(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326), reach)))
        where.append(func.ST_DWithin(cast(p.c.point, Geography), _geography(lon, lat), filters.radius_m))
    return where


def _geography(lon: float, lat: float) -> ColumnElement[Any]:
    return cast(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326), Geography)


# --- The map ---------------------------------------------------------------------------------------------------


def uses_cell_table(filters: Filters) -> bool:
    """Whether the precomputed cells can answer: they are kept by map, category and status only."""
    return filters.reported_from is None and filters.reported_to is None and filters.territory_id is None


def _map_statuses(filters: Filters) -> list[str]:
    """The map shows only public statuses, whoever looks (a filter can narrow them, never widen)."""
    if filters.statuses is None:
        return list(PUBLIC_STATUSES)
    return [s for s in filters.statuses if s in PUBLIC_STATUSES]


def _narrowing(statuses: list[str]) -> list[str] | None:
    """None when ``statuses`` are all the public ones: the visibility predicate says that already."""
    return None if set(statuses) == set(PUBLIC_STATUSES) else statuses


def _any_of(column: ColumnElement[Any], name: str) -> ColumnElement[bool]:
    """``column = ANY(:name)`` with the list bound as one array: the SQL text stays the same whatever the list's
    length, where an expanding ``IN`` is re-rendered for every execution (a twentieth of a country view's CPU) and
    makes a new prepared statement for every length."""
    return column == any_(bindparam(name, type_=postgresql.ARRAY(column.type)))


def _cells(parts: int, by_map: bool, by_category: bool) -> Select[Any]:
    """Per-cell counts and mean coordinates from the cell table, with bind parameters only: ``level``,
    ``statuses`` (an array), ``x0_i, x1_i, y0_i, y1_i`` per range ``i < parts``, and ``map_id`` /
    ``category_ids`` (an array) when ``by_map`` / ``by_category``."""

    def cells(t: Any) -> Select[Any]:
        where: list[ColumnElement[bool]] = [
            t.c.level == bindparam("level", type_=Integer),
            or_(
                *[
                    and_(
                        t.c.cell_x.between(bindparam(f"x0_{i}", type_=Integer), bindparam(f"x1_{i}", type_=Integer)),
                        t.c.cell_y.between(bindparam(f"y0_{i}", type_=Integer), bindparam(f"y1_{i}", type_=Integer)),
                    )
                    for i in range(parts)
                ]
            ),
            _any_of(t.c.status, "statuses"),
        ]
        if by_map:
            where.append(t.c.map_id == bindparam("map_id", type_=t.c.map_id.type))
        if by_category:
            where.append(_any_of(t.c.category_id, "category_ids"))
        return select(t.c.cell_x, t.c.cell_y, t.c.n, t.c.sum_lon, t.c.sum_lat).where(*where)

    # The folded cells plus the deltas the worker has not folded yet (migration 0004): exact at every moment.
    c = union_all(cells(map_cells), cells(map_cell_deltas)).subquery("cells")
    n = func.sum(c.c.n)
    return (
        select(
            c.c.cell_x,
            c.c.cell_y,
            n.label("n"),
            (func.sum(c.c.sum_lon) / n).label("lon"),
            (func.sum(c.c.sum_lat) / n).label("lat"),
        )
        .group_by(c.c.cell_x, c.c.cell_y)
        .having(n > 0)
    )


def _live_cells(filters: Filters, level: int, bbox: BBox) -> Select[Any]:
    """Per-cell counts and mean coordinates computed from the problems themselves (a period or territory filter,
    which the cell table does not keep)."""
    size = cell_size(level)
    cx = func.floor((func.ST_X(p.c.point) + 180.0) / size)
    cy = func.floor((func.ST_Y(p.c.point) + 90.0) / size)
    live = Filters(**{**filters.__dict__, "statuses": _narrowing(_map_statuses(filters)), "bbox": bbox})
    return (
        select(
            cast(cx, Integer).label("cell_x"),
            cast(cy, Integer).label("cell_y"),
            func.count().label("n"),
            func.avg(func.ST_X(p.c.point)).label("lon"),
            func.avg(func.ST_Y(p.c.point)).label("lat"),
        )
        .where(*_where(live, Viewer()))
        .group_by(text("1"), text("2"))
    )


def _rounded(value: ColumnElement[Any]) -> ColumnElement[Any]:
    """Six decimals (about 10 cm), back as a float so that JSON prints it shortest (``37.62``, not ``37.620000``)."""
    return cast(func.round(cast(value, postgresql.NUMERIC), 6), Float)


def _clusters_json(cells: Select[Any], level: Any, size: Any) -> Select[str, int]:
    """The cells as a JSON array of GeoJSON Features built by PostgreSQL, and the problems they hold in all.

    A cluster is a point at its problems' mean position, with their ``count`` and the grid cell as its ``bbox``
    (a client zooms to it on click); cells go south to north, west to east. Python neither parses nor re-encodes
    them: for a country view that was most of the service's own time per answer, as much as the query's."""
    c = cells.subquery("c")
    west = c.c.cell_x * size - 180.0
    south = c.c.cell_y * size - 90.0
    feature = func.json_build_object(
        "type",
        "Feature",
        "id",
        func.concat("cell:", level, ":", c.c.cell_x, ":", c.c.cell_y),
        "geometry",
        func.json_build_object(
            "type", "Point", "coordinates", func.json_build_array(_rounded(c.c.lon), _rounded(c.c.lat))
        ),
        "bbox",
        func.json_build_array(_rounded(west), _rounded(south), _rounded(west + size), _rounded(south + size)),
        "properties",
        func.json_build_object("cluster", true(), "count", c.c.n),
    )
    features = func.json_agg(aggregate_order_by(feature, c.c.cell_y, c.c.cell_x))
    return select(
        cast(func.coalesce(features, cast(literal("[]"), JSON)), Text).label("features"),
        cast(func.coalesce(func.sum(c.c.n), 0), postgresql.BIGINT).label("found"),
    )


@functools.lru_cache(maxsize=32)
def _clusters_json_statement(parts: int, by_map: bool, by_category: bool) -> Select[str, int]:
    """:func:`_clusters_json` over the cell table, built once per filter shape: building the construct and its cache
    key per request cost more CPU than PostgreSQL spends answering it. Parameters: those of :func:`_cells`, and
    ``size`` (degrees per cell at ``level``)."""
    return _clusters_json(
        _cells(parts, by_map, by_category), bindparam("level", type_=Integer), bindparam("size", type_=Float)
    )


def clusters_json_query(
    filters: Filters, level: int, ranges: list[CellRange], bbox: BBox
) -> tuple[Select[str, int], dict[str, Any]]:
    """The SELECT that clusters the map (see :func:`_clusters_json`) and its parameters: over the trigger-kept cell
    table when the filters allow, else over the problems themselves."""
    if not uses_cell_table(filters):
        return _clusters_json(_live_cells(filters, level, bbox), literal(level), literal(cell_size(level))), {}
    by_map, by_category = filters.map_id is not None, filters.category_ids is not None
    params: dict[str, Any] = {"level": level, "size": cell_size(level), "statuses": _map_statuses(filters)}
    for i, r in enumerate(ranges):
        params.update({f"x0_{i}": r.x0, f"x1_{i}": r.x1, f"y0_{i}": r.y0, f"y1_{i}": r.y1})
    if by_map:
        params["map_id"] = filters.map_id
    if by_category:
        params["category_ids"] = filters.category_ids
    return _clusters_json_statement(len(ranges), by_map, by_category), params


async def map_clusters_json(
    connection: AsyncConnection, filters: Filters, level: int, ranges: list[CellRange], bbox: BBox
) -> tuple[str, int]:
    """The map's clusters as a JSON array of Features, and the problems they hold in all."""
    query, params = clusters_json_query(filters, level, ranges, bbox)
    row = (await connection.execute(query, params)).one()
    return str(row.features), int(row.found)


def features_query(filters: Filters, bbox: BBox, limit: int) -> Select[Any]:
    statuses = _map_statuses(filters)
    live = Filters(**{**filters.__dict__, "statuses": _narrowing(statuses), "bbox": bbox})
    return (
        select(
            p.c.id,
            p.c.point,
            p.c.title,
            p.c.status,
            p.c.reported_at,
            p.c.supports_count,
            categories.c.code.label("category_code"),
            categories.c.icon.label("icon"),
        )
        .join(categories, categories.c.id == p.c.category_id)
        .where(*_where(live, Viewer()))
        .order_by(*_nearest_centre(bbox))
        .limit(limit)
    )


def _point(lon: float, lat: float) -> ColumnElement[Any]:
    return func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)


def _nearest_centre(bbox: BBox) -> list[ColumnElement[Any]]:
    """Nearest the view's centre first: a GiST nearest-neighbour scan that stops after the first rows."""
    lon, lat = bbox.center
    # Distance alone (no tie-breaker): only then can the GiST index hand rows over in this order.
    return [p.c.point.op("<->")(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326))]


def _features_json(
    where: list[ColumnElement[bool]], centre: ColumnElement[Any], inner_limit: Any, limit: Any
) -> Select[str, int]:
    """The problems matching ``where`` nearest ``centre`` as a JSON array of GeoJSON Features, built by PostgreSQL
    (no Python work per feature), and how many there were up to ``inner_limit`` (``limit + 1``: more than ``limit``
    means the list is cut).

    The inner query stops after ``inner_limit`` rows (nearest-neighbour index scan); only then are they numbered."""
    # Distance alone (no tie-breaker): only then can the GiST index hand rows over in this order.
    distance = p.c.point.op("<->")(centre)
    nearest = (
        select(
            p.c.id,
            p.c.point,
            p.c.title,
            p.c.status,
            p.c.reported_at,
            p.c.supports_count,
            categories.c.code.label("category_code"),
            categories.c.icon.label("icon"),
            distance.label("d"),
        )
        .join(categories, categories.c.id == p.c.category_id)
        .where(*where)
        .order_by(distance)
        .limit(inner_limit)
        .subquery()
    )
    rows = select(nearest, func.row_number().over(order_by=[nearest.c.d, nearest.c.id]).label("rn")).subquery("rows")
    status_name = case(STATUS_NAMES, value=rows.c.status, else_=rows.c.status)
    feature = func.json_build_object(
        "type",
        "Feature",
        "id",
        rows.c.id,
        "geometry",
        cast(func.ST_AsGeoJSON(rows.c.point, 7), JSON),
        "properties",
        func.json_build_object(
            "cluster",
            false(),
            "title",
            rows.c.title,
            "status",
            rows.c.status,
            "status_name",
            status_name,
            "category_code",
            rows.c.category_code,
            "icon",
            rows.c.icon,
            "supports_count",
            rows.c.supports_count,
            "reported_at",
            rows.c.reported_at,
        ),
    )
    features = func.json_agg(aggregate_order_by(feature, rows.c.rn)).filter(rows.c.rn <= limit)
    return select(
        cast(func.coalesce(features, cast(literal("[]"), JSON)), Text).label("features"),
        func.count().label("found"),
    ).select_from(rows)


@functools.lru_cache(maxsize=64)
def _features_json_statement(parts: int, narrowed: bool, by_map: bool, by_category: bool) -> Select[str, int]:
    """:func:`_features_json` for the map's usual filters, with bind parameters only, built once per shape: building
    it per request cost a city view more CPU than serving the rest of the request. Parameters: ``w_i, s_i, e_i, n_i``
    per bbox part ``i < parts``, ``centre_lon``, ``centre_lat``, ``inner_limit``, ``limit``, and ``statuses``,
    ``map_id``, ``category_ids`` (arrays, see :func:`_any_of`) when ``narrowed``, ``by_map``, ``by_category``."""
    where: list[ColumnElement[bool]] = [PUBLIC_PROBLEM]  # type: ignore[list-item]
    if narrowed:
        where.append(_any_of(p.c.status, "statuses"))
    if by_map:
        where.append(p.c.map_id == bindparam("map_id", type_=p.c.map_id.type))
    if by_category:
        where.append(_any_of(p.c.category_id, "category_ids"))
    envelopes = [
        func.ST_MakeEnvelope(*(bindparam(f"{side}_{i}", type_=Float) for side in "wsen"), 4326) for i in range(parts)
    ]
    where.append(or_(*[p.c.point.op("&&")(envelope) for envelope in envelopes]))
    centre = func.ST_SetSRID(
        func.ST_MakePoint(bindparam("centre_lon", type_=Float), bindparam("centre_lat", type_=Float)), 4326
    )
    return _features_json(where, centre, bindparam("inner_limit", type_=Integer), bindparam("limit", type_=Integer))


def features_json_query(filters: Filters, bbox: BBox, limit: int) -> tuple[Select[str, int], dict[str, Any]]:
    """The SELECT of the map's features (see :func:`_features_json`) and its parameters."""
    statuses = _narrowing(_map_statuses(filters))
    live = Filters(**{**filters.__dict__, "statuses": statuses, "bbox": bbox})
    usual = Filters(map_id=live.map_id, category_ids=live.category_ids, statuses=live.statuses, bbox=bbox)
    if live != usual:  # a rarer filter (dates, territory...): built for this request
        return _features_json(_where(live, Viewer()), _point(*bbox.center), limit + 1, limit), {}
    parts = bbox.parts()
    params: dict[str, Any] = {"inner_limit": limit + 1, "limit": limit}
    params["centre_lon"], params["centre_lat"] = bbox.center
    for i, part in enumerate(parts):
        params.update({f"w_{i}": part.min_lon, f"s_{i}": part.min_lat, f"e_{i}": part.max_lon, f"n_{i}": part.max_lat})
    if statuses is not None:
        params["statuses"] = statuses
    if filters.map_id is not None:
        params["map_id"] = filters.map_id
    if filters.category_ids is not None:
        params["category_ids"] = filters.category_ids
    statement = _features_json_statement(
        len(parts), statuses is not None, filters.map_id is not None, filters.category_ids is not None
    )
    return statement, params


async def map_features_json(connection: AsyncConnection, filters: Filters, bbox: BBox, limit: int) -> tuple[str, int]:
    query, params = features_json_query(filters, bbox, limit)
    row = (await connection.execute(query, params)).one()
    return str(row.features), int(row.found)


# --- Lists ------------------------------------------------------------------------------------------------------

SORTS = ("new", "old", "supports", "distance")


def _distance(filters: Filters) -> ColumnElement[Any]:
    assert filters.near is not None
    return func.ST_Distance(cast(p.c.point, Geography), _geography(*filters.near))


def summary_query(filters: Filters, viewer: Viewer, *, sort: str, after: list[Any] | None, limit: int) -> Select[Any]:
    columns: list[Any] = [
        p.c.id,
        maps.c.code.label("map_code"),
        categories.c.code.label("category_code"),
        categories.c.name.label("category_name"),
        func.ST_X(p.c.point).label("lon"),
        func.ST_Y(p.c.point).label("lat"),
        p.c.address,
        p.c.title,
        p.c.description,
        p.c.extra,
        p.c.status,
        p.c.reported_at,
        p.c.published_at,
        p.c.updated_at,
        p.c.supports_count,
        p.c.comments_count,
        p.c.anonymous,
        applicants.c.display_name,
        p.c.authority_id,
        p.c.authority_name,
        p.c.appeal_id,
        p.c.answer_due_at,
        p.c.can_confirm_until,
        p.c.rating,
    ]
    where = _where(filters, viewer)
    if sort == "distance":
        distance = _distance(filters).label("distance")
        columns.append(distance)
        order = [distance.asc(), p.c.id.asc()]
        if after is not None:
            where.append(tuple_(_distance(filters), p.c.id) > tuple_(literal(after[0]), literal(after[1])))
    elif sort == "supports":
        order = [p.c.supports_count.desc(), p.c.id.desc()]
        if after is not None:
            where.append(tuple_(p.c.supports_count, p.c.id) < tuple_(literal(after[0]), literal(after[1])))
    elif sort == "old":
        order = [p.c.reported_at.asc(), p.c.id.asc()]
        if after is not None:
            where.append(tuple_(p.c.reported_at, p.c.id) > tuple_(literal(after[0]), literal(after[1])))
    else:
        order = [p.c.reported_at.desc(), p.c.id.desc()]
        if after is not None:
            where.append(tuple_(p.c.reported_at, p.c.id) < tuple_(literal(after[0]), literal(after[1])))
    return (
        select(*columns)
        .select_from(
            p.join(maps, maps.c.id == p.c.map_id)
            .join(categories, categories.c.id == p.c.category_id)
            .outerjoin(applicants, applicants.c.problem_id == p.c.id)
        )
        .where(*where)
        .order_by(*order)
        .limit(limit)
    )


async def problem_summaries(
    session: AsyncSession, filters: Filters, viewer: Viewer, *, sort: str, after: list[Any] | None, limit: int
) -> list[dict[str, Any]]:
    rows = [
        dict(r._mapping)
        for r in await session.execute(summary_query(filters, viewer, sort=sort, after=after, limit=limit))
    ]
    if rows:
        ids = [r["id"] for r in rows]
        found: dict[uuid.UUID, list[dict[str, Any]]] = {}
        photo_rows = await session.execute(
            select(photos.c.id, photos.c.problem_id, photos.c.storage_key, photos.c.thumbnail_key)
            .where(photos.c.problem_id.in_(ids))
            .order_by(photos.c.problem_id, photos.c.position)
        )
        for photo in photo_rows:
            found.setdefault(photo.problem_id, []).append(dict(photo._mapping))
        for row in rows:
            row["photos"] = found.get(row["id"], [])
    return rows


__all__ = [
    "SORTS",
    "Filters",
    "UnknownCode",
    "Viewer",
    "clusters_json_query",
    "features_query",
    "map_clusters_json",
    "map_features_json",
    "problem_summaries",
    "resolve_category",
    "resolve_map",
    "summary_query",
    "uses_cell_table",
]
