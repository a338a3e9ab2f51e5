"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0)."""

from __future__ import annotations

import httpx

from auth.settings import AuthSettings
from servicekit.app import ServiceContext

from .conftest import MakeUser
from .test_oauth_support import (
    LOGOUT_URI,
    authorize_params,
    pkce,
    register_client,
    sign_in,
    tokens_for,
)


async def _still_signed_in(client: httpx.AsyncClient, web: object, raw_cookie: str, settings: AuthSettings) -> bool:
    """Present the old cookie again: a session ended on the server no longer signs anybody in."""
    client.cookies.set(settings.session_cookie, raw_cookie)
    response = await client.get("/oauth2/authorize", params=authorize_params(web, pkce()[1]))  # type: ignore[arg-type]
    return not response.headers["location"].startswith("/signin")


async def test_logout_with_id_token_hint_goes_to_the_registered_uri_with_state(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    body = await tokens_for(kit, client, auth_settings, await make_user(), web)
    raw = client.cookies[auth_settings.session_cookie]

    response = await client.get(
        "/oauth2/logout",
        params={"id_token_hint": body["id_token"], "post_logout_redirect_uri": LOGOUT_URI, "state": "st-1"},
    )

    assert response.status_code == 302
    assert response.headers["location"] == f"{LOGOUT_URI}?state=st-1"
    assert f'{auth_settings.session_cookie}=""' in response.headers["set-cookie"]
    assert not await _still_signed_in(client, web, raw, auth_settings)


async def test_logout_never_redirects_to_an_unregistered_uri(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    body = await tokens_for(kit, client, auth_settings, await make_user(), web)

    response = await client.get(
        "/oauth2/logout",
        params={"id_token_hint": body["id_token"], "post_logout_redirect_uri": "https://evil.example/", "state": "s"},
    )

    assert response.status_code == 200
    assert "location" not in response.headers
    assert "Вы вышли" in response.text


async def test_logout_without_a_valid_hint_asks_first_and_checks_csrf(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    raw = await sign_in(kit, client, auth_settings, await make_user())

    asked = await client.get("/oauth2/logout", params={"post_logout_redirect_uri": LOGOUT_URI})
    forged = await client.post("/oauth2/logout", data={"confirm": "1", "csrf_token": "forged-token-value-123"})
    assert await _still_signed_in(client, web, raw, auth_settings)
    token = client.cookies["gorod_csrf"]
    confirmed = await client.post("/oauth2/logout", data={"confirm": "1", "csrf_token": token})

    assert asked.status_code == 200
    assert 'name="confirm"' in asked.text
    assert "frame-ancestors 'none'" in asked.headers["content-security-policy"]
    assert forged.status_code == 403
    assert confirmed.status_code == 200
    assert "location" not in confirmed.headers
    assert not await _still_signed_in(client, web, raw, auth_settings)
