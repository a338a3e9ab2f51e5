"""Maps and categories by code, kept in this process's memory for a few seconds (the intake's hot path).

Reporting a problem looks its map and category up on every request; both change rarely (an operator's edit).
A hit younger than ``ttl`` seconds is served from memory; misses are never remembered (a new category is usable
at once). The catalog use cases call :func:`invalidate` after they commit, so an edit made through this process
is seen by its next request; other processes (uvicorn workers) see it within ``ttl``. A lookup that started
before an invalidation does not store its (possibly stale) answer.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from problems.db import catalog as catalog_db

_maps: dict[str, tuple[float, Any]] = {}
_categories: dict[str, tuple[float, Any]] = {}
_generation = 0


def invalidate() -> None:
    """Forget everything (after a map or category was created, changed or deleted)."""
    global _generation
    _generation += 1
    _maps.clear()
    _categories.clear()


async def _cached(cache: dict[str, tuple[float, Any]], code: str, ttl: float, fetch: Any) -> Any:
    now = time.monotonic()
    hit = cache.get(code)
    if hit is not None and now - hit[0] < ttl:
        return hit[1]
    generation = _generation
    row = await fetch()
    if row is not None and ttl > 0 and generation == _generation:
        cache[code] = (now, row)
    elif row is None:
        cache.pop(code, None)
    return row


async def map_by_code(session: AsyncSession, code: str, *, ttl: float) -> Any:
    return await _cached(_maps, code, ttl, lambda: catalog_db.map_by_code(session, code))


async def category_by_code(session: AsyncSession, code: str, *, ttl: float) -> Any:
    return await _cached(_categories, code, ttl, lambda: catalog_db.category_by_code(session, code))
