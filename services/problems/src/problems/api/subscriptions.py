"""Subscriptions: follow a problem, an area (a circle around a point) or a territory; e-mail on changes.

Who may call: creating, listing and deleting need a resident's token (audience ``problems``, a user subject);
the one-click unsubscribe endpoints need only the token from the e-mail (whoever holds the link).
"""

from __future__ import annotations

import html
import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, EmailStr, Field, model_validator

from problems.usecases import subscriptions as usecases
from servicekit.app import service_context, unit_of_work
from servicekit.http.idempotency import fingerprint, idempotency_key
from servicekit.http.pagination import Page, PageRequest, encode_cursor, page_request
from servicekit.http.problems import ProblemError
from servicekit.security import Principal, current_principal
from servicekit.uow import UnitOfWork

router = APIRouter(prefix="/api/v1/problems/subscriptions", tags=["subscriptions"])

PRIVILEGED_ROLES = frozenset({"moderator", "operator"})


class PointIn(BaseModel):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class SubscriptionIn(BaseModel):
    """``kind=problem`` needs ``problem_id``; ``area`` needs ``point`` and ``radius_m``; ``territory`` needs
    ``territory_id``. ``email``: where to write (kept only while the subscription lives)."""

    kind: Literal["problem", "area", "territory"]
    email: EmailStr = Field(max_length=254)
    problem_id: uuid.UUID | None = None
    point: PointIn | None = None
    radius_m: int | None = Field(default=None, ge=50, le=20000)
    territory_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _fits_kind(self) -> SubscriptionIn:
        needed = {"problem": ("problem_id",), "area": ("point", "radius_m"), "territory": ("territory_id",)}
        missing = [name for name in needed[self.kind] if getattr(self, name) is None]
        extra = [
            name
            for name in ("problem_id", "point", "radius_m", "territory_id")
            if name not in needed[self.kind] and getattr(self, name) is not None
        ]
        if missing or extra:
            raise ProblemError(
                422,
                "Для этого вида подписки "
                + ("не хватает полей: " + ", ".join(missing) if missing else "лишние поля: " + ", ".join(extra))
                + ".",
                title="Validation failed",
                errors=[{"field": f"body.{name}", "message": "Обязательное поле не заполнено."} for name in missing]
                + [{"field": f"body.{name}", "message": "Поле не подходит для этого вида подписки."} for name in extra],
            )
        return self


class SubscriptionOut(BaseModel):
    id: uuid.UUID
    kind: str
    email: str
    problem_id: uuid.UUID | None
    point: PointIn | None
    radius_m: int | None
    territory_id: uuid.UUID | None
    created_at: datetime


def _follower(principal: Principal) -> usecases.Follower:
    try:
        user_id = uuid.UUID(principal.subject)
    except ValueError:
        raise ProblemError(403, "Подписываться могут только жители, вошедшие в систему.") from None
    return usecases.Follower(user_id=user_id, privileged=bool(PRIVILEGED_ROLES & principal.roles))


@router.post(
    "",
    status_code=201,
    response_model=SubscriptionOut,
    responses={200: {"model": SubscriptionOut, "description": "Already following this problem."}},
    summary="Subscribe to a problem, an area or a territory",
)
async def create_subscription(
    body: SubscriptionIn,
    response: Response,
    principal: Annotated[Principal, Depends(current_principal)],
    uow: Annotated[UnitOfWork, Depends(unit_of_work)],
    key: Annotated[str | None, Depends(idempotency_key)] = None,
) -> dict[str, object]:
    """A signed-in resident (401 without a token, 403 for a partner client's token). Header ``Idempotency-Key``
    honoured. Following a problem one already follows answers 200 with the existing subscription."""
    follower = _follower(principal)
    new = usecases.NewSubscription(
        kind=body.kind,
        email=str(body.email),
        problem_id=body.problem_id,
        lon=body.point.lon if body.point else None,
        lat=body.point.lat if body.point else None,
        radius_m=body.radius_m,
        territory_id=body.territory_id,
    )
    async with uow:
        status, created = await usecases.subscribe(
            uow, follower, new, idempotency_key=key, request_fingerprint=fingerprint(body.model_dump(mode="json"))
        )
    response.status_code = status
    response.headers["Location"] = f"/api/v1/problems/subscriptions/{created['id']}"
    return created


@router.get("", summary="My subscriptions")
async def list_subscriptions(
    request: Request,
    principal: Annotated[Principal, Depends(current_principal)],
    page: Annotated[PageRequest, Depends(page_request)],
) -> Page[SubscriptionOut]:
    """A signed-in resident: their own subscriptions, newest first (401 without a token)."""
    follower = _follower(principal)
    after = None
    if page.after is not None:
        try:
            after = (datetime.fromisoformat(str(page.after[0])), uuid.UUID(str(page.after[1])))
            if after[0].tzinfo is None or len(page.after) != 2:
                raise ValueError
        except (ValueError, IndexError):
            raise ProblemError(
                400,
                "Неверный курсор страницы: запросите список с начала.",
                title="Invalid cursor",
                errors=[{"field": "query.cursor", "message": "Неверный курсор страницы."}],
            ) from None
    async with service_context(request).session_factory() as session:
        rows = await usecases.my_subscriptions(session, follower.user_id, after=after, limit=page.limit + 1)
    items = rows[: page.limit]
    last = items[-1] if items else None
    return Page[SubscriptionOut](
        items=[SubscriptionOut.model_validate(row) for row in items],
        next_cursor=encode_cursor([last["_created_at"].isoformat(), last["id"]])
        if last and len(rows) > page.limit
        else None,
    )


@router.delete("/{subscription_id}", status_code=204, summary="Delete one of my subscriptions")
async def delete_subscription(
    subscription_id: uuid.UUID,
    principal: Annotated[Principal, Depends(current_principal)],
    uow: Annotated[UnitOfWork, Depends(unit_of_work)],
) -> Response:
    """A signed-in resident, for their own subscription only (another's is 404; 401 without a token)."""
    follower = _follower(principal)
    async with uow:
        await usecases.unsubscribe(uow, follower.user_id, subscription_id)
    return Response(status_code=204)


URLSAFE = r"^[A-Za-z0-9_-]+$"  # what secrets.token_urlsafe makes; anything else is not our link
Token = Annotated[
    str, Query(min_length=20, max_length=100, pattern=URLSAFE, description="The token from the e-mail's link.")
]

_PAGE = """<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Отписка</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head><body><main><h1>{title}</h1>{content}</main>
</body></html>"""


@router.get("/unsubscribe", response_class=HTMLResponse, summary="The unsubscribe page (asks to confirm)")
async def unsubscribe_page(token: Token) -> HTMLResponse:
    """Anyone holding the e-mail's link. Changes nothing (mail scanners open links): a button sends the POST."""
    form = (
        '<p>Больше не присылать письма по этой подписке?</p><form method="post">'
        f'<input type="hidden" name="token" value="{html.escape(token)}">'
        '<button type="submit">Отписаться</button></form>'
    )
    return HTMLResponse(
        _PAGE.format(title="Отписка от уведомлений", content=form),
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


@router.post("/unsubscribe", response_class=HTMLResponse, summary="One-click unsubscribe (RFC 8058)")
async def unsubscribe_one_click(
    uow: Annotated[UnitOfWork, Depends(unit_of_work)],
    token: Annotated[str | None, Query(min_length=20, max_length=100, pattern=URLSAFE)] = None,
    form_token: Annotated[str | None, Form(alias="token", min_length=20, max_length=100, pattern=URLSAFE)] = None,
) -> HTMLResponse:
    """Anyone holding the e-mail's link: the mail client's one-click POST (``List-Unsubscribe=One-Click``, token in
    the URL) or the page's button (token in the form). Safe to repeat: an unknown token answers the same."""
    chosen = token or form_token
    if chosen is None:
        raise ProblemError(
            422,
            "Проверьте поле token: ссылка для отписки неполная.",
            title="Validation failed",
            errors=[{"field": "query.token", "message": "Обязательное поле не заполнено."}],
        )
    async with uow:
        await usecases.unsubscribe_by_token(uow, chosen)
    return HTMLResponse(
        _PAGE.format(title="Вы отписаны", content="<p>Письма по этой подписке больше не придут.</p>"),
        headers={"Cache-Control": "no-store"},
    )
