"""The heat-map grid: how big a cell is at a zoom level, and how many cells a request may ask for."""

from __future__ import annotations

CELLS_PER_TILE = 8
"""A web-map tile (256 px) is cut into 8 × 8 cells: 32 px each, at any zoom."""
MAX_CELLS = 20_000
MIN_ZOOM, MAX_ZOOM = 3, 18


def cell_size(zoom: int) -> float:
    """The side of a grid cell in degrees at ``zoom`` (a tile spans 360 / 2**zoom degrees of longitude)."""
    return 360.0 / float(2**zoom) / CELLS_PER_TILE


def cell_count(bbox: tuple[float, float, float, float], zoom: int) -> int:
    lon0, lat0, lon1, lat1 = bbox
    size = cell_size(zoom)
    return (int((lon1 - lon0) / size) + 1) * (int((lat1 - lat0) / size) + 1)
