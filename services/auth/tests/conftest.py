"""Fixtures of the auth service's tests: the real app on the test stack, a browser-like client, users."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from auth.db import users as users_db
from auth.domain.secrets import hash_password
from auth.domain.tokens import access_token_claims
from auth.main import create_app
from auth.settings import AuthSettings
from auth.usecases.keys import SigningKey
from servicekit.app import ServiceContext
from servicekit.security import TokenVerifier
from servicekit.testing.plugin import TestStack

BASE_URL = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def auth_settings(gorod_stack: TestStack) -> AuthSettings:
    return AuthSettings()  # the test plugin points AUTH_* at the test stack


@pytest.fixture(scope="session")
async def auth_app(auth_settings: AuthSettings) -> AsyncIterator[FastAPI]:
    app = create_app(auth_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def kit(auth_app: FastAPI) -> ServiceContext:
    context: ServiceContext = auth_app.state.kit
    return context


@pytest.fixture
async def client(auth_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A browser: keeps cookies, does not follow redirects (tests look at them)."""
    transport = httpx.ASGITransport(app=auth_app, client=("203.0.113.10", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@dataclass(frozen=True)
class User:
    id: uuid.UUID
    email: str
    password: str


MakeUser = Callable[..., Awaitable[User]]


@pytest.fixture
def make_user(kit: ServiceContext) -> MakeUser:
    """Create a confirmed account with a unique e-mail and the given roles."""

    async def make(*, roles: tuple[str, ...] = (), password: str = PASSWORD, full_name: str = "Иван Петров") -> User:
        email = f"user-{uuid.uuid4().hex[:10]}@example.org"
        password_hash = await asyncio.to_thread(hash_password, password)
        async with kit.unit_of_work() as uow:
            user_id = await users_db.insert_user(
                uow.session, email=email, password_hash=password_hash, full_name=full_name, email_verified=True
            )
            for role in roles:
                await users_db.grant_role(uow.session, user_id, role, by=None)
            await uow.commit()
        return User(user_id, email, password)

    return make


Mint = Callable[..., Awaitable[str]]


@pytest.fixture
async def mint(auth_app: FastAPI, auth_settings: AuthSettings) -> AsyncIterator[Mint]:
    """Install a verifier that trusts the app's key ring; yields a function minting access tokens."""
    kit: ServiceContext = auth_app.state.kit
    previous = kit.token_verifier
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=auth_app), base_url="http://auth.test")
    kit.token_verifier = TokenVerifier(
        jwks_url="http://auth.test/.well-known/jwks.json",
        issuer=auth_settings.jwt_issuer,
        audience="auth",
        http_client=http,
    )

    async def make(
        subject: uuid.UUID | str, *, roles: Iterable[str] = ("citizen",), auth_time: datetime | None = None
    ) -> str:
        key: SigningKey = await auth_app.state.keys.signing_key()
        now = datetime.now(UTC)
        claims = access_token_claims(
            issuer=auth_settings.jwt_issuer,
            subject=str(subject),
            client_id="gorod-web",
            audience=["gateway", "auth"],
            scope="openid profile",
            roles=roles,
            issued_at=now,
            ttl=600,
            auth_time=auth_time or now,
        )
        return key.sign(claims, typ="at+jwt")

    try:
        yield make
    finally:
        kit.token_verifier = previous
        await http.aclose()
