"""Client credentials for partner systems: confidential clients only, limited to their scopes and audiences."""

from __future__ import annotations

import httpx

from auth.settings import AuthSettings
from servicekit.app import ServiceContext

from .test_oauth_support import client_credentials, register_client, verify_jwt


async def test_token_for_a_subset_of_the_clients_scopes(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings
) -> None:
    partner = await register_client(
        kit, kind="partner", confidential=True, grant_types=["client_credentials"], scopes=["open311", "problems:read"]
    )

    response = await client_credentials(client, partner, scope="open311")

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert "refresh_token" not in body
    assert "id_token" not in body
    claims = await verify_jwt(client, body["access_token"], issuer=auth_settings.jwt_issuer)
    assert claims["scope"] == "open311"
    assert claims["sub"] == claims["client_id"] == partner.client_id
    assert claims["roles"] == []
    everything = (await client_credentials(client, partner)).json()
    assert set(everything["scope"].split()) == {"open311", "problems:read"}  # no scope asked: all of its own


async def test_scope_beyond_the_clients_own_is_refused(client: httpx.AsyncClient, kit: ServiceContext) -> None:
    partner = await register_client(
        kit, kind="partner", confidential=True, grant_types=["client_credentials"], scopes=["open311"]
    )

    response = await client_credentials(client, partner, scope="open311 admin")

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


async def test_tokens_are_limited_to_the_clients_audiences(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings
) -> None:
    partner = await register_client(
        kit,
        kind="partner",
        confidential=True,
        grant_types=["client_credentials"],
        scopes=["open311"],
        audiences=["problems", "gateway"],
    )

    body = (await client_credentials(client, partner)).json()

    claims = await verify_jwt(client, body["access_token"], issuer=auth_settings.jwt_issuer)
    assert claims["aud"] == ["gateway", "problems"]


async def test_public_client_cannot_use_client_credentials(client: httpx.AsyncClient, kit: ServiceContext) -> None:
    public = await register_client(kit, grant_types=["authorization_code", "client_credentials"], scopes=["open311"])

    with_id_only = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": public.client_id}
    )
    with_basic = await client_credentials(client, public, secret="anything")

    for response in (with_id_only, with_basic):
        assert response.status_code in (400, 401)
        assert response.json()["error"] in ("invalid_client", "unauthorized_client")
        assert "access_token" not in response.json()


async def test_wrong_secret_is_refused(client: httpx.AsyncClient, kit: ServiceContext) -> None:
    partner = await register_client(
        kit, kind="partner", confidential=True, grant_types=["client_credentials"], scopes=["open311"]
    )

    response = await client_credentials(client, partner, secret="not-the-secret")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic")


async def test_client_without_the_grant_type_is_refused(client: httpx.AsyncClient, kit: ServiceContext) -> None:
    web_server = await register_client(kit, confidential=True, scopes=["openid"])

    response = await client_credentials(client, web_server)

    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"
