"""Thematic maps and categories: the public reading (anyone) and the operators' admin API."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from problems.api.deps import Operator, Uow
from problems.usecases import catalog as usecases
from servicekit.http.pagination import Page, PageRequest, page_request

router = APIRouter(tags=["maps and categories"])
admin = APIRouter(prefix="/admin/v1/problems", tags=["admin: maps and categories"])

CODE = r"^[a-z][a-z0-9_.-]{1,62}$"
Code = Annotated[str, Path(pattern=CODE, description="Stable code.")]
Pages = Annotated[PageRequest, Depends(page_request)]


class AttributeValue(BaseModel):
    model_config = ConfigDict(extra="forbid")
    key: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=200)


class Attribute(BaseModel):
    """An Open311 service attribute: an extra field of a report in this category."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool = False
    description: str = Field(min_length=1, max_length=300, description="The question shown to the resident.")
    order: int = Field(default=0, ge=0, le=1000)
    values: list[AttributeValue] = Field(default_factory=list, max_length=100)


class MapOut(BaseModel):
    id: uuid.UUID
    code: str
    name: str
    description: str
    volunteers_only: bool
    premoderation: bool
    position: int


class CategoryOut(BaseModel):
    id: uuid.UUID
    code: str
    map_code: str
    name: str
    description: str
    parent_id: uuid.UUID | None
    parent_code: str | None
    icon: str
    anonymous_allowed: bool
    private: bool
    duplicate_radius_m: int
    keywords: list[str]
    attributes: list[Attribute]
    position: int
    active: bool


class MapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=CODE)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    volunteers_only: bool = False
    premoderation: bool = False
    position: int = Field(default=0, ge=0, le=10000)


class MapPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    volunteers_only: bool | None = None
    premoderation: bool | None = None
    position: int | None = Field(default=None, ge=0, le=10000)


class CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=CODE)
    map: str = Field(pattern=CODE, description="The map's code.")
    parent: str | None = Field(default=None, pattern=CODE, description="The parent category's code.")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    icon: str = Field(default="default", pattern=r"^[a-z0-9_-]{1,40}$")
    anonymous_allowed: bool = False
    private: bool = False
    duplicate_radius_m: int = Field(default=250, ge=10, le=5000)
    keywords: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(default_factory=list, max_length=50)
    attributes: list[Attribute] = Field(default_factory=list, max_length=30)
    position: int = Field(default=0, ge=0, le=10000)
    active: bool = True


class CategoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parent: str | None = Field(default=None, pattern=CODE)
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    icon: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,40}$")
    anonymous_allowed: bool | None = None
    private: bool | None = None
    duplicate_radius_m: int | None = Field(default=None, ge=10, le=5000)
    keywords: list[Annotated[str, Field(min_length=1, max_length=60)]] | None = Field(default=None, max_length=50)
    attributes: list[Attribute] | None = Field(default=None, max_length=30)
    position: int | None = Field(default=None, ge=0, le=10000)
    active: bool | None = None


def _set_fields(model: BaseModel) -> dict[str, Any]:
    """Only the fields the caller sent (``parent: null`` detaches; other nulls are ignored)."""
    values = model.model_dump(exclude_unset=True)
    return {k: v for k, v in values.items() if v is not None or k == "parent"}


# --- public -----------------------------------------------------------------------------------------


@router.get("/api/v1/problems/maps", response_model=Page[MapOut])
async def list_maps(uow: Uow, page: Pages) -> Any:
    """Thematic maps. Who may call: anyone."""
    async with uow:
        return await usecases.list_maps(uow, page)


@router.get("/api/v1/problems/categories", response_model=Page[CategoryOut])
async def list_categories(
    uow: Uow, page: Pages, map: Annotated[str | None, Query(pattern=CODE, description="A map's code.")] = None
) -> Any:
    """Active categories (Open311 services), optionally of one map. Who may call: anyone."""
    async with uow:
        return await usecases.list_categories(uow, page, map_code=map)


@router.get("/api/v1/problems/categories/{code}", response_model=CategoryOut)
async def get_category(uow: Uow, code: Code) -> Any:
    """One active category. Who may call: anyone."""
    async with uow:
        return await usecases.get_category(uow, code)


# --- admin ------------------------------------------------------------------------------------------


@admin.get("/maps", response_model=Page[MapOut])
async def admin_list_maps(uow: Uow, page: Pages, _: Operator) -> Any:
    """All maps. Who may call: role operator."""
    async with uow:
        return await usecases.list_maps(uow, page)


@admin.post("/maps", response_model=MapOut, status_code=201)
async def create_map(uow: Uow, body: MapIn, _: Operator) -> Any:
    """Create a map. Who may call: role operator. 409 if the code is taken."""
    async with uow:
        return await usecases.create_map(uow, body.model_dump())


@admin.patch("/maps/{code}", response_model=MapOut)
async def update_map(uow: Uow, code: Code, body: MapPatch, _: Operator) -> Any:
    """Change a map (e.g. switch pre-moderation on). Who may call: role operator."""
    async with uow:
        return await usecases.update_map(uow, code, {k: v for k, v in body.model_dump().items() if v is not None})


@admin.delete("/maps/{code}", status_code=204)
async def delete_map(uow: Uow, code: Code, _: Operator) -> Response:
    """Delete a map without categories (409 otherwise). Who may call: role operator."""
    async with uow:
        await usecases.delete_map(uow, code)
    return Response(status_code=204)


@admin.get("/categories", response_model=Page[CategoryOut])
async def admin_list_categories(
    uow: Uow, page: Pages, _: Operator, map: Annotated[str | None, Query(pattern=CODE)] = None
) -> Any:
    """All categories, inactive ones too. Who may call: role operator."""
    async with uow:
        return await usecases.list_categories(uow, page, map_code=map, include_inactive=True)


@admin.post("/categories", response_model=CategoryOut, status_code=201)
async def create_category(uow: Uow, body: CategoryIn, _: Operator) -> Any:
    """Create a category. Who may call: role operator. 409 if the code is taken; 422 for a bad map/parent/
    attribute list."""
    async with uow:
        return await usecases.create_category(uow, body.model_dump())


@admin.patch("/categories/{code}", response_model=CategoryOut)
async def update_category(uow: Uow, code: Code, body: CategoryPatch, _: Operator) -> Any:
    """Change a category (the map and code never change). Who may call: role operator."""
    async with uow:
        return await usecases.update_category(uow, code, _set_fields(body))


class Deleted(BaseModel):
    deleted: bool
    """False when the category is in use and was deactivated instead."""


@admin.delete("/categories/{code}", response_model=Deleted)
async def delete_category(uow: Uow, code: Code, _: Operator) -> Any:
    """Delete an unused category, or deactivate one that has problems or children. Who may call: role operator."""
    async with uow:
        return {"deleted": await usecases.delete_category(uow, code)}


class TerritoryPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    premoderation: bool


class TerritoryOut(BaseModel):
    id: uuid.UUID
    oktmo: str
    name: str
    level: str
    premoderation: bool


@admin.patch("/territories/{territory_id}", response_model=TerritoryOut)
async def update_territory(uow: Uow, territory_id: uuid.UUID, body: TerritoryPatch, _: Operator) -> Any:
    """Switch pre-moderation on or off for reports inside a territory. Who may call: role operator."""
    async with uow:
        return await usecases.set_territory_premoderation(uow, territory_id, body.premoderation)
