"""Refresh tokens: rotation, reuse detection that revokes the family, one winner among concurrent uses."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from auth.db.tables import audit_log
from auth.settings import AuthSettings
from servicekit.app import ServiceContext

from .conftest import MakeUser
from .test_oauth_support import refresh, register_client, tokens_for, verify_jwt


async def test_refresh_rotates_the_refresh_token(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit, confidential=True)
    user = await make_user()
    first = await tokens_for(kit, client, auth_settings, user, web)

    rotated = await refresh(client, web, first["refresh_token"])

    assert rotated.status_code == 200, rotated.text
    assert rotated.headers["cache-control"] == "no-store"
    body = rotated.json()
    assert body["refresh_token"] != first["refresh_token"]
    claims = await verify_jwt(client, body["access_token"], issuer=auth_settings.jwt_issuer)
    assert claims["sub"] == str(user.id)
    assert claims["scope"] == first["scope"]
    assert (await refresh(client, web, body["refresh_token"])).status_code == 200  # the new one works


async def test_public_client_can_refresh_with_its_client_id(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    app = await register_client(kit, kind="mobile", redirect_uris=["ru.gorod.app:/oauth2redirect"])
    first = await tokens_for(kit, client, auth_settings, await make_user(), app)

    rotated = await refresh(client, app, first["refresh_token"])

    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["refresh_token"] != first["refresh_token"]


async def test_refresh_token_of_one_client_is_refused_to_another(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    other = await register_client(kit)
    first = await tokens_for(kit, client, auth_settings, await make_user(), web)

    response = await refresh(client, other, first["refresh_token"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    user = await make_user()
    first = await tokens_for(kit, client, auth_settings, user, web)
    second = (await refresh(client, web, first["refresh_token"])).json()["refresh_token"]

    reuse = await refresh(client, web, first["refresh_token"])

    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    after = await refresh(client, web, second)
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"
    async with kit.session_factory() as session:
        actions = set(
            (await session.execute(select(audit_log.c.action).where(audit_log.c.subject_id == user.id))).scalars()
        )
    assert "oauth.refresh_token_reused" in actions


async def test_two_concurrent_refreshes_with_one_token_exactly_one_wins(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    user = await make_user()
    for _ in range(5):  # several races: one of them alone might not overlap
        first = await tokens_for(kit, client, auth_settings, user, web)

        responses = await asyncio.gather(*(refresh(client, web, first["refresh_token"]) for _ in range(2)))

        assert sorted(response.status_code for response in responses) == [200, 400]
        loser = next(response for response in responses if response.status_code == 400)
        assert loser.json()["error"] == "invalid_grant"
