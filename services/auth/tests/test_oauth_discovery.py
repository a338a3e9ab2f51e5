"""Discovery, the JWKS, and signing-key rotation."""

from __future__ import annotations

import httpx
import jwt
from authlib.oidc.discovery import OpenIDProviderMetadata
from fastapi import FastAPI

from auth.settings import AuthSettings
from servicekit.app import ServiceContext
from servicekit.security import TokenVerifier

from .conftest import BASE_URL
from .test_oauth_support import client_credentials, jwks, register_client


async def test_discovery_document_names_our_endpoints_and_s256_only(
    client: httpx.AsyncClient, auth_settings: AuthSettings
) -> None:
    response = await client.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    meta = response.json()
    issuer = auth_settings.jwt_issuer
    assert meta["issuer"] == issuer
    assert meta["authorization_endpoint"] == f"{issuer}/oauth2/authorize"
    assert meta["token_endpoint"] == f"{issuer}/oauth2/token"
    assert meta["userinfo_endpoint"] == f"{issuer}/oauth2/userinfo"
    assert meta["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert meta["introspection_endpoint"] == f"{issuer}/oauth2/introspect"
    assert meta["revocation_endpoint"] == f"{issuer}/oauth2/revoke"
    assert meta["end_session_endpoint"] == f"{issuer}/oauth2/logout"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["response_types_supported"] == ["code"]
    assert meta["authorization_response_iss_parameter_supported"] is True
    OpenIDProviderMetadata(meta).validate()  # Authlib's own check of OIDC Discovery / RFC 8414


async def test_jwks_publishes_public_keys_that_verify_our_tokens(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings
) -> None:
    partner = await register_client(
        kit, kind="partner", confidential=True, grant_types=["client_credentials"], scopes=["open311"]
    )
    token = (await client_credentials(client, partner)).json()["access_token"]

    keys = (await jwks(client))["keys"]

    kid = jwt.get_unverified_header(token)["kid"]
    key = next(key for key in keys if key["kid"] == kid)
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key), "private key material must never be published"
    jwt.decode(token, jwt.PyJWK(key), algorithms=["RS256"], options={"verify_aud": False})


async def test_rotation_new_tokens_use_new_key_and_old_tokens_still_verify(
    client: httpx.AsyncClient, kit: ServiceContext, auth_app: FastAPI, auth_settings: AuthSettings
) -> None:
    partner = await register_client(
        kit,
        kind="partner",
        confidential=True,
        grant_types=["client_credentials"],
        scopes=["open311"],
        audiences=["problems"],
    )
    before = (await client_credentials(client, partner)).json()["access_token"]
    fetcher = httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_app), base_url=BASE_URL)
    verifier = TokenVerifier(
        jwks_url=f"{BASE_URL}/.well-known/jwks.json",
        issuer=auth_settings.jwt_issuer,
        audience="problems",
        http_client=fetcher,
        min_refetch_interval=0,
    )
    try:
        assert (await verifier.verify(before)).client_id == partner.client_id  # caches the key set

        new_kid = await auth_app.state.keys.rotate()
        after = (await client_credentials(client, partner)).json()["access_token"]

        old_kid = jwt.get_unverified_header(before)["kid"]
        assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
        published = {key["kid"] for key in (await jwks(client))["keys"]}
        assert {old_kid, new_kid} <= published
        assert (await verifier.verify(after)).client_id == partner.client_id  # unknown kid: refetched
        assert (await verifier.verify(before)).client_id == partner.client_id  # the retired key still verifies
    finally:
        await fetcher.aclose()
