"""The problem map's geometry rules: bounding boxes, zoom levels, the cluster grid, GeoJSON (RFC 7946).

Clusters are cells of a fixed grid in degrees. Grid level ``L`` has cells of ``360 / 2**(L + 2)`` degrees: at web
map zoom ``L`` (256-pixel tiles) a cell is about 64 pixels wide. The database keeps, for a few levels, a count and
a coordinate sum per cell (table ``map_cells``, kept in step with ``problems`` by a trigger), so a whole-country
view reads a few hundred pre-aggregated rows instead of a million points. A zoom between two stored levels uses
the coarser one (cells of 64 to 128 pixels). From :data:`FEATURE_ZOOM` on, the map returns the problems
themselves, at most :data:`MAX_FEATURES` of them: those nearest the view's centre (a GiST nearest-neighbour scan stops
after them, however dense the view), and says when it cut the list short.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

CELL_LEVELS: tuple[int, ...] = (2, 4, 6, 8, 10, 12)
"""Grid levels stored in ``map_cells`` (the migration's trigger uses the same list)."""

FEATURE_ZOOM = 13
"""From this zoom on the map shows problems, not clusters."""

MAX_ZOOM = 22
MAX_FEATURES = 500

PUBLIC_STATUSES: tuple[str, ...] = (
    "published",
    "sent",
    "registered",
    "in_work",
    "answered",
    "solved",
    "not_solved",
    "forwarded",
)
"""Statuses anyone may see on the map and in the lists; the others (moderation, rejected, withdrawn, merged)
are shown only to those who may see them (the author, moderators, operators)."""

ALL_STATUSES: tuple[str, ...] = (
    "moderation",
    *PUBLIC_STATUSES,
    "rejected",
    "withdrawn",
    "merged",
)

OPEN_STATUSES: frozenset[str] = frozenset(
    set(ALL_STATUSES) - {"solved", "not_solved", "rejected", "withdrawn", "merged"}
)


class BBoxError(ValueError):
    """A bounding box that cannot be used; the message is Russian, for people."""


@dataclass(frozen=True)
class BBox:
    """``min_lon, min_lat, max_lon, max_lat`` in GeoJSON order; ``min_lon > max_lon`` crosses the antimeridian
    (RFC 7946 §5.2), which Russia does (Chukotka)."""

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float

    @property
    def crosses_antimeridian(self) -> bool:
        return self.min_lon > self.max_lon

    def parts(self) -> list[BBox]:
        """One box, or two when it crosses the antimeridian (east part first)."""
        if not self.crosses_antimeridian:
            return [self]
        return [
            BBox(self.min_lon, self.min_lat, 180.0, self.max_lat),
            BBox(-180.0, self.min_lat, self.max_lon, self.max_lat),
        ]

    @property
    def center(self) -> tuple[float, float]:
        """The view's centre (across the antimeridian when the box crosses it)."""
        east = self.max_lon + 360.0 if self.crosses_antimeridian else self.max_lon
        lon = (self.min_lon + east) / 2
        return (lon - 360.0 if lon > 180.0 else lon), (self.min_lat + self.max_lat) / 2

    def as_list(self) -> list[float]:
        return [self.min_lon, self.min_lat, self.max_lon, self.max_lat]


def parse_bbox(text: str) -> BBox:
    """``"minLon,minLat,maxLon,maxLat"`` → :class:`BBox`; raises :class:`BBoxError` with a Russian message."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise BBoxError("Ожидаются четыре числа через запятую: minLon,minLat,maxLon,maxLat.")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise BBoxError("Координаты границ карты должны быть числами.") from None
    if not all(math.isfinite(v) for v in values):
        raise BBoxError("Координаты границ карты должны быть конечными числами.")
    min_lon, min_lat, max_lon, max_lat = values
    if not (-180 <= min_lon <= 180 and -180 <= max_lon <= 180):
        raise BBoxError("Долгота должна быть от -180 до 180.")
    if not (-90 <= min_lat <= 90 and -90 <= max_lat <= 90):
        raise BBoxError("Широта должна быть от -90 до 90.")
    if min_lat >= max_lat:
        raise BBoxError("Южная граница (minLat) должна быть меньше северной (maxLat).")
    if min_lon == max_lon:
        raise BBoxError("Западная и восточная границы карты совпадают.")
    return BBox(min_lon, min_lat, max_lon, max_lat)


def parse_point(text: str) -> tuple[float, float]:
    """``"lon,lat"`` → ``(lon, lat)``; raises :class:`BBoxError` with a Russian message."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2:
        raise BBoxError("Ожидаются два числа через запятую: долгота,широта.")
    try:
        lon, lat = (float(p) for p in parts)
    except ValueError:
        raise BBoxError("Координаты точки должны быть числами.") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise BBoxError("Долгота должна быть от -180 до 180, широта — от -90 до 90.")
    return lon, lat


def cell_size(level: int) -> float:
    """Degrees per grid cell at ``level``."""
    return 360.0 / float(1 << (level + 2))


def level_for_zoom(zoom: int) -> int:
    """The stored grid level that clusters a map at ``zoom`` (the finest level not finer than the zoom)."""
    fitting = [level for level in CELL_LEVELS if level <= zoom]
    return fitting[-1] if fitting else CELL_LEVELS[0]


def shows_features(zoom: int) -> bool:
    return zoom >= FEATURE_ZOOM


def cell_of(lon: float, lat: float, level: int) -> tuple[int, int]:
    """The cell a point falls into: the same formula as the database trigger."""
    size = cell_size(level)
    return math.floor((lon + 180.0) / size), math.floor((lat + 90.0) / size)


@dataclass(frozen=True)
class CellRange:
    x0: int
    x1: int
    y0: int
    y1: int


def cell_ranges(bbox: BBox, level: int) -> list[CellRange]:
    """The cell index ranges covering ``bbox`` (two when it crosses the antimeridian)."""
    ranges = []
    for part in bbox.parts():
        x0, y0 = cell_of(part.min_lon, part.min_lat, level)
        x1, y1 = cell_of(part.max_lon, part.max_lat, level)
        ranges.append(CellRange(x0, x1, y0, y1))
    return ranges


def feature_collection_json(
    features_json: str, *, bbox: BBox, zoom: int, clustered: bool, truncated: bool, total: int
) -> str:
    """The FeatureCollection around a JSON array of Features the database built (no parsing, no re-encoding), with
    foreign members saying how it was built (RFC 7946 §6.1): ``total`` is the problems shown, one per Feature, or
    held by the clusters."""
    head = json.dumps({"type": "FeatureCollection", "bbox": bbox.as_list()})[:-1]
    tail = json.dumps({"zoom": zoom, "clustered": clustered, "truncated": truncated, "total": total})[1:]
    return f'{head}, "features": {features_json}, {tail}'
