"""The token endpoint's authorization_code grant: PKCE, the id_token, codes that work once."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import httpx
import jwt
from sqlalchemy import select

from auth.db.tables import audit_log
from auth.settings import AuthSettings
from servicekit.app import ServiceContext

from .conftest import MakeUser
from .test_oauth_support import exchange, get_code, refresh, register_client, sign_in, verify_jwt


async def test_public_client_code_flow_with_pkce_issues_tokens(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    user = await make_user(roles=("official",))
    await sign_in(kit, client, auth_settings, user)
    code, verifier, _ = await get_code(client, web, scope="openid email")

    response = await exchange(client, web, code, verifier)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == auth_settings.access_token_ttl
    assert body["scope"] == "openid email"
    assert body["refresh_token"]
    assert body["id_token"]
    assert jwt.get_unverified_header(body["access_token"])["typ"] == "at+jwt"
    claims = await verify_jwt(client, body["access_token"], issuer=auth_settings.jwt_issuer)
    assert claims["sub"] == str(user.id)
    assert claims["client_id"] == web.client_id
    assert claims["scope"] == "openid email"
    assert set(claims["roles"]) == {"citizen", "official"}
    assert claims["aud"] == sorted(auth_settings.default_audiences)
    assert claims["exp"] - claims["iat"] == auth_settings.access_token_ttl


async def test_id_token_carries_nonce_at_hash_auth_time_and_verifies(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    user = await make_user(full_name="Анна Смирнова")
    signed_in_at = datetime.now(UTC)
    await sign_in(kit, client, auth_settings, user)
    code, verifier, params = await get_code(client, web, scope="openid profile email")
    body = (await exchange(client, web, code, verifier)).json()

    claims = await verify_jwt(client, body["id_token"], issuer=auth_settings.jwt_issuer, audience=web.client_id)

    assert jwt.get_unverified_header(body["id_token"])["typ"] == "JWT"
    assert claims["sub"] == str(user.id)
    assert claims["nonce"] == params["nonce"]
    digest = hashlib.sha256(body["access_token"].encode()).digest()
    assert claims["at_hash"] == base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
    assert abs(claims["auth_time"] - signed_in_at.timestamp()) < 5
    assert claims["azp"] == web.client_id
    assert claims["email"] == user.email
    assert claims["email_verified"] is True
    assert claims["name"] == "Анна Смирнова"


async def test_wrong_or_missing_code_verifier_is_refused(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    await sign_in(kit, client, auth_settings, await make_user())
    code, verifier, _ = await get_code(client, web)

    wrong = await exchange(client, web, code, "w" * 50)
    missing = await exchange(client, web, code, None)
    right = await exchange(client, web, code, verifier)  # the failures did not burn the code

    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert missing.status_code == 400
    assert missing.json()["error"] == "invalid_request"
    assert right.status_code == 200


async def test_confidential_client_must_authenticate_to_exchange_a_code(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    server_side = await register_client(kit, confidential=True)
    await sign_in(kit, client, auth_settings, await make_user())
    code, verifier, _ = await get_code(client, server_side)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": server_side.redirect_uri,
        "code_verifier": verifier,
        "client_id": server_side.client_id,
    }

    anonymous = await client.post("/oauth2/token", data=data)
    wrong_secret = await client.post("/oauth2/token", data=data, auth=(server_side.client_id, "not-the-secret"))
    with_post = await client.post("/oauth2/token", data={**data, "client_secret": server_side.secret or ""})

    assert anonymous.status_code in (400, 401)
    assert anonymous.json()["error"] == "invalid_client"
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    assert with_post.status_code == 200  # client_secret_post


async def test_a_replayed_code_fails_and_revokes_what_its_first_use_issued(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    user = await make_user()
    await sign_in(kit, client, auth_settings, user)
    code, verifier, _ = await get_code(client, web)
    first = await exchange(client, web, code, verifier)
    assert first.status_code == 200

    replay = await exchange(client, web, code, verifier)

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    revoked = await refresh(client, web, first.json()["refresh_token"])
    assert revoked.status_code == 400
    assert revoked.json()["error"] == "invalid_grant"
    async with kit.session_factory() as session:
        actions = (await session.execute(select(audit_log.c.action).where(audit_log.c.subject_id == user.id))).scalars()
        assert "oauth.code_replayed" in set(actions)
