"""Helpers shared by the ``test_oauth_*`` modules (no tests here): registering clients, signing a browser in,
PKCE, the code flow, reading tokens."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt

from auth.db.oauth import insert_client
from auth.domain.secrets import hash_password
from auth.settings import AuthSettings
from auth.usecases.sessions import start_session
from servicekit.app import ServiceContext

from .conftest import User

REDIRECT_URI = "https://web.example/callback"
LOGOUT_URI = "https://web.example/signed-out"
WEB_ORIGIN = "https://web.example"
USER_SCOPES = ("openid", "profile", "email")


@dataclass(frozen=True)
class Registered:
    client_id: str
    secret: str | None
    redirect_uri: str

    @property
    def auth(self) -> tuple[str, str] | None:
        """HTTP Basic credentials for a confidential client."""
        return (self.client_id, self.secret) if self.secret else None


async def register_client(
    kit: ServiceContext,
    *,
    kind: str = "web",
    confidential: bool = False,
    grant_types: Iterable[str] = ("authorization_code", "refresh_token"),
    scopes: Iterable[str] = USER_SCOPES,
    redirect_uris: Iterable[str] = (REDIRECT_URI,),
    post_logout_redirect_uris: Iterable[str] = (LOGOUT_URI,),
    allowed_origins: Iterable[str] = (WEB_ORIGIN,),
    audiences: Iterable[str] = (),
    can_introspect: bool = False,
) -> Registered:
    client_id = f"test-{kind}-{uuid.uuid4().hex[:10]}"
    secret = secrets.token_urlsafe(24) if confidential else None
    secret_hash = await asyncio.to_thread(hash_password, secret) if secret else None
    redirect_uris = tuple(redirect_uris)
    async with kit.unit_of_work() as uow:
        await insert_client(
            uow.session,
            client_id=client_id,
            kind=kind,
            secret_hash=secret_hash,
            grant_types=grant_types,
            scopes=scopes,
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=post_logout_redirect_uris,
            allowed_origins=allowed_origins,
            audiences=audiences,
            can_introspect=can_introspect,
        )
        await uow.commit()
    return Registered(client_id, secret, redirect_uris[0] if redirect_uris else "")


async def sign_in(kit: ServiceContext, browser: httpx.AsyncClient, settings: AuthSettings, user: User) -> str:
    """A browser session for ``user``, as the sign-in page would start it; returns the raw cookie value."""
    async with kit.unit_of_work() as uow:
        raw = await start_session(uow.session, user.id, ttl=settings.session_ttl)
        await uow.commit()
    browser.cookies.set(settings.session_cookie, raw)
    return raw


def pkce() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge), computed here independently of the server's code."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(
    client: Registered, challenge: str | None, *, scope: str = "openid profile email", **extra: str
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": client.redirect_uri,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def query_of(location: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


async def get_code(
    browser: httpx.AsyncClient, client: Registered, *, scope: str = "openid profile email", **extra: str
) -> tuple[str, str, dict[str, str]]:
    """Run the authorization request of a signed-in browser: (code, code_verifier, the request's params)."""
    verifier, challenge = pkce()
    params = authorize_params(client, challenge, scope=scope, **extra)
    response = await browser.get("/oauth2/authorize", params=params)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(client.redirect_uri + "?")
    query = query_of(location)
    assert "error" not in query, query
    return query["code"], verifier, params


async def exchange(
    browser: httpx.AsyncClient, client: Registered, code: str, verifier: str | None, **overrides: str
) -> httpx.Response:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri}
    if verifier is not None:
        data["code_verifier"] = verifier
    if client.secret is None:
        data["client_id"] = client.client_id
    data.update(overrides)
    return await browser.post("/oauth2/token", data=data, auth=client.auth)


async def tokens_for(
    kit: ServiceContext,
    browser: httpx.AsyncClient,
    settings: AuthSettings,
    user: User,
    client: Registered,
    *,
    scope: str = "openid profile email",
) -> dict[str, Any]:
    """Sign ``user`` in and run the whole code flow: the token response."""
    await sign_in(kit, browser, settings, user)
    code, verifier, _ = await get_code(browser, client, scope=scope)
    response = await exchange(browser, client, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def refresh(browser: httpx.AsyncClient, client: Registered, refresh_token: str) -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    if client.secret is None:
        data["client_id"] = client.client_id
    return await browser.post("/oauth2/token", data=data, auth=client.auth)


async def client_credentials(
    browser: httpx.AsyncClient, client: Registered, *, scope: str | None = None, secret: str | None = None
) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    auth = (client.client_id, secret or client.secret or "")
    return await browser.post("/oauth2/token", data=data, auth=auth)


async def jwks(browser: httpx.AsyncClient) -> dict[str, Any]:
    response = await browser.get("/.well-known/jwks.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def verify_jwt(
    browser: httpx.AsyncClient, token: str, *, issuer: str, audience: str | None = None
) -> dict[str, Any]:
    """Verify a token of ours the way a relying party would: RS256 against the published JWKS."""
    kid = jwt.get_unverified_header(token)["kid"]
    key = next(key for key in (await jwks(browser))["keys"] if key["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(key),
        algorithms=["RS256"],
        issuer=issuer,
        audience=audience,
        options={"verify_aud": audience is not None},
    )
    return claims


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}
