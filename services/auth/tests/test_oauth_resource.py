"""UserInfo, introspection (resource servers only) and revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import FastAPI
from sqlalchemy import update

from auth.db.tables import users
from auth.domain.tokens import access_token_claims
from auth.settings import AuthSettings
from servicekit.app import ServiceContext

from .conftest import MakeUser
from .test_oauth_support import Registered, refresh, register_client, tokens_for


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def _resource_server(kit: ServiceContext) -> Registered:
    return await register_client(
        kit, kind="resource_server", confidential=True, grant_types=["client_credentials"], can_introspect=True
    )


async def _introspect(client: httpx.AsyncClient, server: Registered, token: str) -> httpx.Response:
    return await client.post("/oauth2/introspect", data={"token": token}, auth=server.auth)


async def test_userinfo_returns_the_claims_of_the_tokens_scope(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit, scopes=["openid", "profile", "email", "phone"])
    user = await make_user(full_name="Пётр Иванов")
    async with kit.unit_of_work() as uow:
        await uow.session.execute(update(users).where(users.c.id == user.id).values(phone="+79990001122"))
        await uow.commit()
    full = await tokens_for(kit, client, auth_settings, user, web, scope="openid profile email phone")
    narrow = await tokens_for(kit, client, auth_settings, user, web, scope="openid")

    response = await client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {full['access_token']}"})
    by_post = await client.post("/oauth2/userinfo", headers={"Authorization": f"Bearer {narrow['access_token']}"})

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "sub": str(user.id),
        "email": user.email,
        "email_verified": True,
        "name": "Пётр Иванов",
        "phone_number": "+79990001122",
    }
    assert by_post.json() == {"sub": str(user.id)}


async def test_userinfo_without_a_token_or_with_a_client_token_is_refused(
    client: httpx.AsyncClient, kit: ServiceContext
) -> None:
    partner = await register_client(
        kit, kind="partner", confidential=True, grant_types=["client_credentials"], scopes=["open311"]
    )
    client_token = (
        await client.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=partner.auth)
    ).json()["access_token"]

    anonymous = await client.get("/oauth2/userinfo")
    machine = await client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {client_token}"})

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert machine.status_code == 403
    assert machine.json()["error"] == "insufficient_scope"


@pytest.mark.parametrize(
    "forgery", ["alg-none", "hs256-with-public-key", "id-token", "bad-signature", "expired", "other-issuer"]
)
async def test_userinfo_refuses_forged_or_wrong_kind_of_token(
    client: httpx.AsyncClient,
    kit: ServiceContext,
    auth_app: FastAPI,
    auth_settings: AuthSettings,
    make_user: MakeUser,
    forgery: str,
) -> None:
    web = await register_client(kit)
    body = await tokens_for(kit, client, auth_settings, await make_user(), web)
    genuine = body["access_token"]
    header = jwt.get_unverified_header(genuine)
    claims = jwt.decode(genuine, options={"verify_signature": False})
    if forgery == "alg-none":
        token = f"{_b64({**header, 'alg': 'none'})}.{_b64(claims)}."
    elif forgery == "hs256-with-public-key":
        # Key confusion: the published RSA key used as an HMAC secret.
        jwks = (await client.get("/.well-known/jwks.json")).json()
        public = next(key for key in jwks["keys"] if key["kid"] == header["kid"])
        pem = jwt.PyJWK(public).key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        signing_input = f"{_b64({**header, 'alg': 'HS256'})}.{_b64(claims)}"
        mac = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
        token = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    elif forgery == "id-token":
        token = body["id_token"]
    elif forgery in ("expired", "other-issuer"):  # signed with our real key, but not acceptable
        key = await auth_app.state.keys.signing_key()
        if forgery == "expired":
            claims = {**claims, "iat": claims["iat"] - 7200, "nbf": claims["nbf"] - 7200, "exp": claims["iat"] - 3600}
        else:
            claims = {**claims, "iss": "https://evil.example"}
        token = key.sign(claims, typ="at+jwt")
    else:
        head, _, signature = genuine.split(".")
        token = f"{head}.{_b64({**claims, 'sub': '00000000-0000-0000-0000-000000000000'})}.{signature}"

    response = await client.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_introspection_is_only_for_resource_servers(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    user = await make_user()
    body = await tokens_for(kit, client, auth_settings, user, web)
    resource_server = await _resource_server(kit)
    partner = await register_client(
        kit, kind="partner", confidential=True, grant_types=["client_credentials"], scopes=["open311"]
    )

    allowed = await _introspect(client, resource_server, body["access_token"])
    other_client = await _introspect(client, partner, body["access_token"])
    wrong_secret = await client.post(
        "/oauth2/introspect", data={"token": body["access_token"]}, auth=(resource_server.client_id, "nope")
    )
    anonymous = await client.post("/oauth2/introspect", data={"token": body["access_token"]})
    public = await client.post("/oauth2/introspect", data={"token": body["access_token"], "client_id": web.client_id})

    assert allowed.status_code == 200
    info = allowed.json()
    assert info["active"] is True
    assert info["sub"] == str(user.id)
    assert info["client_id"] == web.client_id
    assert info["scope"] == body["scope"]
    assert "citizen" in info["roles"]
    assert other_client.status_code == 403
    assert "active" not in other_client.json()
    for refused in (wrong_secret, anonymous, public):
        assert refused.status_code in (400, 401)
        assert refused.json()["error"] == "invalid_client"
        assert "active" not in refused.json()


async def test_introspection_reports_refresh_tokens_and_unknown_tokens(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    body = await tokens_for(kit, client, auth_settings, await make_user(), web)
    resource_server = await _resource_server(kit)

    live = await _introspect(client, resource_server, body["refresh_token"])
    await refresh(client, web, body["refresh_token"])  # rotated: the old one is dead
    used = await _introspect(client, resource_server, body["refresh_token"])
    unknown = await _introspect(client, resource_server, "no-such-token")

    assert live.json()["active"] is True
    assert live.json()["token_type"] == "refresh_token"
    assert used.json() == {"active": False}
    assert unknown.json() == {"active": False}


async def test_introspection_reports_an_expired_access_token_inactive(
    client: httpx.AsyncClient, kit: ServiceContext, auth_app: FastAPI, auth_settings: AuthSettings
) -> None:
    resource_server = await _resource_server(kit)
    key = await auth_app.state.keys.signing_key()
    claims = access_token_claims(
        issuer=auth_settings.jwt_issuer,
        subject=str(uuid.uuid4()),
        client_id=resource_server.client_id,
        audience=["problems"],
        scope="openid",
        roles=["citizen"],
        issued_at=datetime.now(UTC) - timedelta(hours=2),
        ttl=600,
    )

    response = await _introspect(client, resource_server, key.sign(claims, typ="at+jwt"))

    assert response.json() == {"active": False}


async def test_revoked_access_token_is_inactive_and_refused_by_userinfo(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    body = await tokens_for(kit, client, auth_settings, await make_user(), web)
    resource_server = await _resource_server(kit)
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/oauth2/userinfo", headers=bearer)).status_code == 200

    revoked = await client.post(
        "/oauth2/revoke",
        data={"token": body["access_token"], "token_type_hint": "access_token", "client_id": web.client_id},
    )

    assert revoked.status_code == 200
    assert (await client.get("/oauth2/userinfo", headers=bearer)).status_code == 401
    assert (await _introspect(client, resource_server, body["access_token"])).json() == {"active": False}


async def test_revoking_a_refresh_token_revokes_its_family(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit, confidential=True)
    first = await tokens_for(kit, client, auth_settings, await make_user(), web)
    second = (await refresh(client, web, first["refresh_token"])).json()["refresh_token"]

    revoked = await client.post("/oauth2/revoke", data={"token": second}, auth=web.auth)

    assert revoked.status_code == 200
    after = await refresh(client, web, second)
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"


async def test_a_client_cannot_revoke_another_clients_token(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: MakeUser
) -> None:
    web = await register_client(kit)
    other = await register_client(kit)
    body = await tokens_for(kit, client, auth_settings, await make_user(), web)

    refused = await client.post("/oauth2/revoke", data={"token": body["refresh_token"], "client_id": other.client_id})
    unknown = await client.post("/oauth2/revoke", data={"token": "no-such-token", "client_id": other.client_id})

    assert refused.status_code == 400
    assert unknown.status_code == 200  # RFC 7009 §2.2: an invalid token is not an error
    assert (await refresh(client, web, body["refresh_token"])).status_code == 200
