"""CORS on the token endpoint: only a client's registered origins, never ``*``."""

from __future__ import annotations

import httpx

from servicekit.app import ServiceContext

from .test_oauth_support import WEB_ORIGIN, register_client


async def test_token_endpoint_cors_echoes_only_a_registered_origin(
    client: httpx.AsyncClient, kit: ServiceContext
) -> None:
    widget = await register_client(kit, kind="widget", allowed_origins=[WEB_ORIGIN])
    data = {"grant_type": "refresh_token", "refresh_token": "nope", "client_id": widget.client_id}

    registered = await client.post("/oauth2/token", data=data, headers={"Origin": WEB_ORIGIN})
    stranger = await client.post("/oauth2/token", data=data, headers={"Origin": "https://evil.example"})
    preflight_ok = await client.options(
        "/oauth2/token",
        headers={"Origin": WEB_ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    preflight_bad = await client.options(
        "/oauth2/token",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert registered.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert "access-control-allow-origin" not in stranger.headers
    assert preflight_ok.status_code == 204
    assert preflight_ok.headers["access-control-allow-origin"] == WEB_ORIGIN
    assert "POST" in preflight_ok.headers["access-control-allow-methods"]
    assert "access-control-allow-origin" not in preflight_bad.headers
    for response in (registered, stranger, preflight_ok, preflight_bad):
        assert response.headers.get("access-control-allow-origin") != "*"
        assert "access-control-allow-credentials" not in response.headers
        assert "Origin" in response.headers["vary"]
