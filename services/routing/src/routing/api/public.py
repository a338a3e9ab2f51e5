"""Public reads: territories (anyone; the gateway's Open311 uses ``oktmo`` as jurisdiction_id)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from routing.api.deps import Uow
from routing.db import queries
from servicekit.http.pagination import Page, PageRequest, make_page, page_request
from servicekit.http.problems import ProblemError

router = APIRouter(prefix="/api/v1/territories", tags=["territories"])


class TerritoryItem(BaseModel):
    id: uuid.UUID
    parent_id: uuid.UUID | None
    oktmo: str
    name: str
    level: str
    timezone: str


class TerritoryDetail(TerritoryItem):
    boundary: dict[str, Any] | None
    """GeoJSON MultiPolygon (WGS84)."""


@router.get("", response_model=Page[TerritoryItem])
async def list_territories(
    uow: Uow,
    paging: Annotated[PageRequest, Depends(page_request)],
    oktmo: Annotated[str | None, Query(pattern=r"^\d{8}(\d{3})?$")] = None,
    parent: uuid.UUID | None = None,
) -> Page[TerritoryItem]:
    """Territories by OKTMO order, optionally one OKTMO code or the children of ``parent``. Anyone."""
    async with uow:
        rows = await queries.list_territories(
            uow.session, oktmo=oktmo, parent_id=parent, after=paging.after, limit=paging.limit
        )
    items = [TerritoryItem.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda t: [t.oktmo])


@router.get("/resolve", response_model=list[TerritoryItem])
async def resolve(
    uow: Uow,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
) -> list[TerritoryItem]:
    """The territories containing a point, most specific first (empty if none). Anyone."""
    async with uow:
        rows = await queries.territories_at(uow.session, lon, lat)
    return [TerritoryItem.model_validate(r, from_attributes=True) for r in rows]


@router.get("/{territory_id}", response_model=TerritoryDetail)
async def get_territory(territory_id: uuid.UUID, uow: Uow) -> TerritoryDetail:
    """One territory with its boundary. Anyone."""
    async with uow:
        row = await queries.territory(uow.session, territory_id)
    if row is None:
        raise ProblemError(404, "Территория не найдена.")
    return TerritoryDetail(
        id=row.id,
        parent_id=row.parent_id,
        oktmo=row.oktmo,
        name=row.name,
        level=row.level,
        timezone=row.timezone,
        boundary=queries.boundary_json(row),
    )
