"""The e-mail channel's HTTP side (operators' API).

* ``POST /admin/v1/routing/inbound-mail``: one raw RFC 822 message in the body (``message/rfc822``), e.g. from a
  mail provider's inbound webhook; handled like a message the SMTP receiver took in (a reply becomes the
  authority's answer, a bounce is recorded). **Who may call**: a mail gateway sending the shared secret
  ``ROUTING_MAIL_INBOUND_SECRET`` in ``X-Gorod-Mail-Secret``, or a signed-in user with role ``operator``.
  Idempotent: the same bytes are handled once (``duplicate: true`` the next time).
* ``GET /admin/v1/routing/bounces``: the bounced appeal e-mails, newest first, cursor-paginated.
  **Who may call**: role ``operator``.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from routing.mail.settings import MailSettings
from routing.usecases import email_channel
from servicekit.app import service_context
from servicekit.http.pagination import Page, PageRequest, page_request
from servicekit.http.problems import ProblemError
from servicekit.security import Principal, current_principal, require_role

router = APIRouter(prefix="/admin/v1/routing", tags=["e-mail channel"])

SECRET_HEADER = "X-Gorod-Mail-Secret"  # noqa: S105 (a header name, not a secret)


def mail_settings(request: Request) -> MailSettings:
    settings = getattr(request.app.state, "mail_settings", None)
    if not isinstance(settings, MailSettings):
        settings = MailSettings()
        request.app.state.mail_settings = settings
    return settings


async def mail_gateway_or_operator(request: Request) -> str:
    """The shared secret of the mail gateway, or an operator's token; returns who it is (for the log)."""
    given = request.headers.get(SECRET_HEADER)
    if given is not None:
        secret = mail_settings(request).inbound_secret
        if secret is None or not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
            raise ProblemError(403, "Неверный секрет почтового шлюза.")
        return "mail-gateway"
    principal: Principal = await current_principal(request)
    if not principal.has_role("operator"):
        raise ProblemError(403, "Принимать письма могут только почтовый шлюз и операторы.")
    return principal.subject


class InboundResult(BaseModel):
    inbound_id: uuid.UUID
    kind: str
    """reply, bounce, delay, auto_reply or delivery_report."""
    outcome: str
    """answered, bounce, delay, ignored, unmatched or rejected."""
    appeal_id: uuid.UUID | None
    answer_id: uuid.UUID | None
    duplicate: bool
    detail: str | None = None


@router.post(
    "/inbound-mail",
    response_model=InboundResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def inbound_mail(
    request: Request,
    caller: Annotated[str, Depends(mail_gateway_or_operator)],
    recipient: Annotated[
        list[str] | None, Query(max_length=320, description="Envelope recipients, if the gateway knows them.")
    ] = None,
    sender: Annotated[str | None, Query(max_length=320, description="Envelope sender (empty for a bounce).")] = None,
) -> InboundResult:
    """Take in one raw RFC 822 message. Mail gateway (shared secret) or operator."""
    settings = mail_settings(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_message_bytes:
        raise ProblemError(413, "Письмо слишком большое.")
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > settings.max_message_bytes:
            raise ProblemError(413, "Письмо слишком большое.")
    if not raw.strip():
        raise ProblemError(
            422, "Пустое письмо.", errors=[{"field": "body", "message": "Нужно письмо в формате RFC 822."}]
        )
    received = await email_channel.receive(
        service_context(request).session_factory,
        settings,
        raw,
        via="http",
        envelope_from=sender,
        envelope_to=recipient or (),
    )
    return InboundResult(
        inbound_id=received.inbound_id,
        kind=received.kind,
        outcome=received.outcome,
        appeal_id=received.appeal_id,
        answer_id=received.answer_id,
        duplicate=received.duplicate,
        detail=received.detail,
    )


class BounceOut(BaseModel):
    id: uuid.UUID
    appeal_id: uuid.UUID
    received_at: datetime
    permanent: bool
    standard: bool
    """An RFC 3464 delivery status notification (else a recognised non-standard bounce)."""
    status: str | None
    recipient: str | None
    diagnostic: str | None


@router.get("/bounces", response_model=Page[BounceOut])
async def bounces(
    request: Request,
    _operator: Annotated[Principal, Depends(require_role("operator"))],
    page: Annotated[PageRequest, Depends(page_request)],
) -> Page[BounceOut]:
    """The appeal e-mails that bounced, newest first. Operators only."""
    async with service_context(request).session_factory() as session:
        found = await email_channel.list_bounces(session, page)
    return Page[BounceOut](items=[BounceOut(**item.__dict__) for item in found.items], next_cursor=found.next_cursor)
