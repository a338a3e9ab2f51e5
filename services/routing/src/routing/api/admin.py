"""Operators' API: ``/admin/v1/routing/...`` (role ``operator`` for every endpoint)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field, field_validator

from routing.api.deps import Operator, Uow, once_per_key, user_id_of
from routing.db import queries
from routing.settings import RoutingSettings
from routing.usecases import admin, officials
from servicekit.app import service_context
from servicekit.http.idempotency import idempotency_key
from servicekit.http.pagination import Page, PageRequest, make_page, page_request
from servicekit.http.problems import ProblemError

router = APIRouter(prefix="/admin/v1/routing", tags=["admin"])
Paging = Annotated[PageRequest, Depends(page_request)]
IdempotencyKey = Annotated[str | None, Depends(idempotency_key)]
_ZONES = available_timezones()


def _zone(value: str) -> str:
    if value not in _ZONES:
        raise ValueError("unknown time zone")
    return value


class Created(BaseModel):
    id: uuid.UUID


class TerritoryIn(BaseModel):
    oktmo: str = Field(pattern=r"^\d{8}(\d{3})?$")
    name: str = Field(min_length=1, max_length=300)
    level: Literal["region", "municipal_district", "city_district", "urban_okrug", "settlement"]
    parent_id: uuid.UUID | None = None
    timezone: str = "Europe/Moscow"
    boundary: dict[str, Any] | None = Field(default=None, description="GeoJSON Polygon or MultiPolygon, WGS84.")

    _tz = field_validator("timezone")(_zone)


@router.put("/territories/{territory_id}", response_model=Created)
async def put_territory(territory_id: uuid.UUID, body: TerritoryIn, operator: Operator, uow: Uow) -> Created:
    """Create or replace a territory (publishes routing.territory.changed.v1). Operators only."""
    async with uow:
        await admin.save_territory(uow, territory_id=territory_id, **body.model_dump())
        await uow.commit()
    return Created(id=territory_id)


class AuthorityIn(BaseModel):
    name: str = Field(min_length=1, max_length=500)
    kind: Literal["administration", "department", "supervisory"]
    parent_id: uuid.UUID | None = None
    territory_id: uuid.UUID | None = None
    timezone: str = "Europe/Moscow"
    channel: Literal["cabinet", "email", "cabinet_and_email"] = "cabinet"
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=320)
    calendar_subdiv: str | None = Field(default=None, max_length=10)
    extra_holidays: list[date] = Field(default_factory=list, max_length=400)
    extra_workdays: list[date] = Field(default_factory=list, max_length=400)
    active: bool = True

    _tz = field_validator("timezone")(_zone)


class AuthorityOut(AuthorityIn):
    id: uuid.UUID
    updated_at: datetime


@router.post("/authorities", status_code=201, response_model=Created)
async def create_authority(
    body: AuthorityIn, operator: Operator, uow: Uow, key: IdempotencyKey, response: Response
) -> Any:
    """A new authority, department or supervisory body. Takes Idempotency-Key. Operators only."""

    async def work() -> dict[str, Any]:
        return {"id": str(await admin.save_authority(uow, authority_id=None, **body.model_dump()))}

    return await once_per_key(
        uow,
        response,
        scope=f"routing.authority:{operator.subject}",
        key=key,
        request=body.model_dump(mode="json"),
        work=work,
    )


@router.put("/authorities/{authority_id}", response_model=Created)
async def put_authority(authority_id: uuid.UUID, body: AuthorityIn, operator: Operator, uow: Uow) -> Created:
    """Create or replace an authority by id. Operators only."""
    async with uow:
        await admin.save_authority(uow, authority_id=authority_id, **body.model_dump())
        await uow.commit()
    return Created(id=authority_id)


@router.get("/authorities", response_model=Page[AuthorityOut])
async def list_authorities(
    operator: Operator,
    uow: Uow,
    paging: Paging,
    kind: Literal["administration", "department", "supervisory"] | None = None,
    parent_id: uuid.UUID | None = None,
) -> Page[AuthorityOut]:
    """Authorities by name. Operators only."""
    async with uow:
        rows = await queries.list_authorities(
            uow.session, kind=kind, parent_id=parent_id, after=paging.after, limit=paging.limit
        )
    items = [AuthorityOut.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda a: [a.name, str(a.id)])


@router.get("/authorities/{authority_id}", response_model=AuthorityOut)
async def get_authority(authority_id: uuid.UUID, operator: Operator, uow: Uow) -> AuthorityOut:
    """One authority. Operators only."""
    async with uow:
        row = await queries.authority(uow.session, authority_id)
    if row is None:
        raise ProblemError(404, "Орган власти не найден.")
    return AuthorityOut.model_validate(row, from_attributes=True)


class RuleIn(BaseModel):
    territory_id: uuid.UUID
    category_code: str = Field(min_length=1, max_length=100, pattern=r"^[a-z0-9_.\-]+$")
    authority_id: uuid.UUID
    note: str | None = Field(default=None, max_length=1000, description="The legal basis, shown in the reason.")


class RuleOut(RuleIn):
    id: uuid.UUID


@router.post("/rules", status_code=201, response_model=Created)
async def put_rule(body: RuleIn, operator: Operator, uow: Uow) -> Created:
    """Set the authority for (territory, category); replaces the previous one. Operators only."""
    async with uow:
        rule_id = await admin.save_rule(uow, **body.model_dump())
        await uow.commit()
    return Created(id=rule_id)


@router.get("/rules", response_model=Page[RuleOut])
async def list_rules(
    operator: Operator, uow: Uow, paging: Paging, territory_id: uuid.UUID | None = None
) -> Page[RuleOut]:
    """Jurisdiction rules. Operators only."""
    async with uow:
        rows = await queries.list_rules(uow.session, territory_id=territory_id, after=paging.after, limit=paging.limit)
    items = [RuleOut.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda r: [str(r.id)])


@router.delete("/rules/{rule_id}", status_code=204)
async def delete_rule(rule_id: uuid.UUID, operator: Operator, uow: Uow) -> None:
    """Remove a rule (the territory's administration answers again). Operators only."""
    async with uow:
        await admin.delete_rule(uow, rule_id)
        await uow.commit()


class SupervisorIn(BaseModel):
    territory_id: uuid.UUID
    category_code: str = Field(default="*", min_length=1, max_length=100, pattern=r"^(\*|[a-z0-9_.\-]+)$")
    supervisor_id: uuid.UUID


class SupervisorOut(SupervisorIn):
    id: uuid.UUID


@router.post("/supervisors", status_code=201, response_model=Created)
async def put_supervisor(body: SupervisorIn, operator: Operator, uow: Uow) -> Created:
    """Set the supervisory authority for (territory, category or '*'). Operators only."""
    async with uow:
        row_id = await admin.save_supervisor(uow, **body.model_dump())
        await uow.commit()
    return Created(id=row_id)


@router.get("/supervisors", response_model=Page[SupervisorOut])
async def list_supervisors(operator: Operator, uow: Uow, paging: Paging) -> Page[SupervisorOut]:
    """Supervisors per territory and category. Operators only."""
    async with uow:
        rows = await queries.list_supervisors(uow.session, after=paging.after, limit=paging.limit)
    items = [SupervisorOut.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda r: [str(r.id)])


@router.delete("/supervisors/{row_id}", status_code=204)
async def delete_supervisor(row_id: uuid.UUID, operator: Operator, uow: Uow) -> None:
    """Remove a supervisor assignment. Operators only."""
    async with uow:
        await admin.delete_supervisor(uow, row_id)
        await uow.commit()


class InvitationIn(BaseModel):
    position: str = Field(default="", max_length=300, description="Shown on answers, e.g. «Специалист отдела».")
    department_id: uuid.UUID | None = None


class InvitationOut(BaseModel):
    token: str = Field(description="Shown once: give it to the official, who accepts it in the cabinet.")
    accept_url: str


@router.post("/authorities/{authority_id}/invitations", status_code=201, response_model=InvitationOut)
async def invite_official(
    authority_id: uuid.UUID,
    body: InvitationIn,
    operator: Operator,
    uow: Uow,
    settings: Annotated[Any, Depends(service_context)],
) -> InvitationOut:
    """Invite an official to the authority. Operators only."""
    routing_settings: RoutingSettings = settings.settings
    async with uow:
        token = await officials.create_invitation(
            uow.session,
            authority_id=authority_id,
            position=body.position,
            department_id=body.department_id,
            invited_by=user_id_of(operator),
            days=routing_settings.invitation_days,
        )
        await uow.commit()
    return InvitationOut(token=token, accept_url="/api/v1/cabinet/invitations/accept")


class OfficialOut(BaseModel):
    user_id: uuid.UUID
    authority_id: uuid.UUID
    position: str
    department_id: uuid.UUID | None
    created_at: datetime


@router.get("/authorities/{authority_id}/officials", response_model=Page[OfficialOut])
async def list_officials(authority_id: uuid.UUID, operator: Operator, uow: Uow, paging: Paging) -> Page[OfficialOut]:
    """The officials bound to an authority. Operators only."""
    async with uow:
        rows = await queries.list_officials(uow.session, authority_id, after=paging.after, limit=paging.limit)
    items = [OfficialOut.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda o: [str(o.user_id)])


class DeliveryOut(BaseModel):
    id: uuid.UUID
    appeal_id: uuid.UUID
    authority_id: uuid.UUID
    channel: str
    status: str
    attempts: int
    last_error: str | None
    updated_at: datetime


@router.get("/deliveries/failed", response_model=Page[DeliveryOut])
async def failed_deliveries(operator: Operator, uow: Uow, paging: Paging) -> Page[DeliveryOut]:
    """Deliveries that failed or bounced, newest first, for operators to act on. Operators only."""
    async with uow:
        rows = await queries.failed_deliveries(uow.session, after=paging.after, limit=paging.limit)
    items = [DeliveryOut.model_validate(r, from_attributes=True) for r in rows]
    return make_page(items, paging, lambda d: [d.updated_at.isoformat(), str(d.id)])
