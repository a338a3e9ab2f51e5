"""``GET /api/v1/auth/origins``: the web origins of active web and widget clients, for the gateway's CORS."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from auth.domain.clients import WEB, WIDGET, ClientDraft, check_client
from auth.settings import AuthSettings
from auth.usecases.clients import ensure_client
from servicekit.app import ServiceContext


async def _client(kit: ServiceContext, settings: AuthSettings, kind: str, origin: str) -> str:
    client_id = f"test-{uuid.uuid4().hex[:12]}"
    draft = ClientDraft(
        kind=kind,
        name="Сайт района",
        redirect_uris=(f"{origin}/callback",),
        allowed_origins=(origin,),
    )
    spec = check_client(draft, known_audiences=settings.default_audiences)
    async with kit.unit_of_work() as uow:
        await ensure_client(uow.session, client_id, spec, secret=None)
        await uow.commit()
    return client_id


async def test_lists_the_origins_of_active_web_and_widget_clients_without_a_token(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings
) -> None:
    widget_origin = f"https://{uuid.uuid4().hex[:8]}.widget.example.org"
    web_origin = f"https://{uuid.uuid4().hex[:8]}.web.example.org"
    gone_origin = f"https://{uuid.uuid4().hex[:8]}.gone.example.org"
    await _client(kit, auth_settings, WIDGET, widget_origin)
    await _client(kit, auth_settings, WEB, web_origin)
    gone = await _client(kit, auth_settings, WIDGET, gone_origin)
    async with kit.unit_of_work() as uow:
        await uow.session.execute(
            text("UPDATE oauth_clients SET disabled_at = now() WHERE client_id = :id"), {"id": gone}
        )
        await uow.commit()

    response = await client.get("/api/v1/auth/origins")

    assert response.status_code == 200
    origins = response.json()["origins"]
    assert widget_origin in origins
    assert web_origin in origins
    assert gone_origin not in origins
    assert origins == sorted(set(origins))
    assert "max-age" in response.headers["cache-control"]
