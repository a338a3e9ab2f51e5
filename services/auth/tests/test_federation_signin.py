"""Federated sign-in, driven like a browser across two real servers: our app (ASGI) and, in DOBRO.RU's
place, a real OpenID provider on loopback (``oidc-provider-mock``), plus a small hostile provider of our own
that answers what a broken or malicious one could (unsigned, forged, oversized, malformed, errors)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import jwt
import oidc_provider_mock
import pytest
import werkzeug.serving
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from sqlalchemy import func, select

from auth.db import federation as federation_db
from auth.db import users as users_db
from auth.db.tables import audit_log, consents, external_identities, user_roles, users
from auth.domain.secrets import hash_password
from auth.domain.tokens import access_token_claims
from auth.federation.client import forget_cached_metadata
from auth.federation.config import secret_variable
from auth.main import create_app
from auth.settings import AuthSettings
from auth.usecases.accounts import ensure_current_consent_document
from auth.usecases.federation import configure_provider, set_provider_enabled
from auth.usecases.sessions import current_session
from servicekit.app import ServiceContext
from servicekit.security import TokenVerifier
from servicekit.tables import kit_tables
from servicekit.testing.smtp import SmtpSink, smtp_server

from .conftest import BASE_URL, PASSWORD, MakeUser

CLIENT_ID = "gorod-test"
CLIENT_SECRET = "provider-issued-secret-of-32-bytes-or-more"

pytestmark = pytest.mark.integration


# --- the servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mock_provider() -> Iterator[str]:
    """A real OpenID provider (oidc-provider-mock, a Flask app) on a free loopback port; its base URL."""
    saved = os.environ.get("AUTHLIB_INSECURE_TRANSPORT")
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # the mock's own check: it is plain HTTP on loopback
    server = werkzeug.serving.make_server("127.0.0.1", 0, oidc_provider_mock.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
        if saved is None:
            os.environ.pop("AUTHLIB_INSECURE_TRANSPORT", None)
        else:
            os.environ["AUTHLIB_INSECURE_TRANSPORT"] = saved


class HostileProvider:
    """An OpenID provider that misbehaves as told by the first segment of the path (``/<mode>/…``)."""

    MODES = ("good", "alg-none", "forged", "hs256", "oversized", "malformed", "error", "deep")

    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, str]] = {}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_port}"

    def discovery_url(self, mode: str) -> str:
        return f"{self.base}/{mode}/.well-known/openid-configuration"

    def id_token(self, mode: str, details: dict[str, str]) -> str:
        now = int(datetime.now(UTC).timestamp())
        claims = {
            "iss": f"{self.base}/{mode}",
            "aud": details["client_id"],
            "sub": details["sub"],
            "iat": now,
            "exp": now + 300,
            "nonce": details["nonce"],
            "email": f"{details['sub']}@example.org",
            "email_verified": True,
        }
        if mode == "alg-none":
            return jwt.encode(claims, None, algorithm="none")
        if mode == "hs256":
            return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256", headers={"kid": "k1"})
        key = self.other_key if mode == "forged" else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _json(self, document: Any, status: int = 200) -> None:
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                mode, _, rest = parts.path.lstrip("/").partition("/")
                base = f"{provider.base}/{mode}"
                if rest == ".well-known/openid-configuration":
                    self._json(
                        {
                            "issuer": base,
                            "authorization_endpoint": f"{base}/authorize",
                            "token_endpoint": f"{base}/token",
                            "jwks_uri": f"{base}/jwks",
                            "response_types_supported": ["code"],
                            "id_token_signing_alg_values_supported": ["RS256"],
                        }
                    )
                elif rest == "jwks":
                    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(provider.key.public_key()))
                    self._json({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})
                elif rest == "authorize":
                    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
                    code = uuid.uuid4().hex
                    provider.codes[code] = {
                        "nonce": query.get("nonce", ""),
                        "client_id": query["client_id"],
                        "sub": f"hostile-{mode}-{uuid.uuid4().hex[:8]}",
                    }
                    location = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query["state"]})
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._json({"error": "not_found"}, 404)

            def do_POST(self) -> None:
                mode, _, rest = urlsplit(self.path).path.lstrip("/").partition("/")
                length = int(self.headers.get("Content-Length", "0"))
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                if rest != "token":
                    self._json({"error": "not_found"}, 404)
                    return
                details = provider.codes.pop(form.get("code", ""), None)
                if details is None:
                    self._json({"error": "invalid_grant"}, 400)
                elif mode == "error":
                    self._json({"error": "invalid_grant", "error_description": "<script>alert(1)</script>"}, 400)
                elif mode == "malformed":
                    body = b"<html><body>Internal Server Error</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif mode == "deep":
                    body = b"[" * 200_000
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                elif mode == "oversized":
                    # A correct answer but for its size, sent without Content-Length: the size is found out only
                    # while reading (HTTP/1.0, the body ends when the connection closes).
                    answer = {"access_token": uuid.uuid4().hex, "token_type": "Bearer"}
                    answer["id_token"] = provider.id_token("oversized", details)
                    head = json.dumps(answer)[:-1].encode() + b', "padding": "'
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    try:
                        self.wfile.write(head)
                        for _ in range(64):
                            self.wfile.write(b"x" * 32768)
                        self.wfile.write(b'"}')
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                else:
                    self._json(
                        {
                            "access_token": uuid.uuid4().hex,
                            "token_type": "Bearer",
                            "expires_in": 300,
                            "id_token": provider.id_token(mode, details),
                        }
                    )

        return Handler

    def __enter__(self) -> HostileProvider:
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def hostile_provider() -> Iterator[HostileProvider]:
    with HostileProvider() as provider:
        yield provider


# --- configuration and browsers ----------------------------------------------------------------------


Configure = Callable[..., Awaitable[str]]


@pytest.fixture
async def configure(kit: ServiceContext) -> AsyncIterator[Configure]:
    """Configure a provider under a fresh slug (its secret in the environment); disabled afterwards."""
    slugs: list[str] = []

    async def make(settings: dict[str, Any], *, display_name: str = "DOBRO.RU", secret: bool = True) -> str:
        slug = f"t{uuid.uuid4().hex[:10]}"
        async with kit.unit_of_work() as uow:
            await configure_provider(uow.session, slug, display_name, settings)
            await uow.commit()
        if secret:
            os.environ[secret_variable(slug)] = CLIENT_SECRET
        slugs.append(slug)
        return slug

    yield make
    async with kit.unit_of_work() as uow:
        for slug in slugs:
            await set_provider_enabled(uow.session, slug, False)  # keep the sign-in page of other tests clean
            os.environ.pop(secret_variable(slug), None)
        await uow.commit()
    forget_cached_metadata()


def oidc_settings(discovery_url: str, **overrides: Any) -> dict[str, Any]:
    return {
        "protocol": "oidc",
        "discovery_url": discovery_url,
        "client_id": CLIENT_ID,
        "scopes": ["openid", "email", "profile"],
        "claims": {"subject": "sub", "email": "email", "name": "name", "volunteer_id": "volunteer.id"},
        "channel": "dobro.ru",
        **overrides,
    }


Browser = Callable[..., Any]


@pytest.fixture
def browser(auth_app: FastAPI) -> Callable[..., Any]:
    """Another, fresh browser (own cookies) on our app, from an address of its own (so that the wrong
    passwords of a test never count against the address other tests share)."""

    @asynccontextmanager
    async def open_browser(app: FastAPI | None = None) -> AsyncIterator[httpx.AsyncClient]:
        address = f"198.18.{secrets.randbelow(256)}.{secrets.randbelow(254) + 1}"
        transport = httpx.ASGITransport(app=app or auth_app, client=(address, 50000))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client

    return open_browser


@pytest.fixture(scope="module")
async def consent_version(auth_app: FastAPI) -> str:
    """The consent document in force (published if none is yet)."""
    kit: ServiceContext = auth_app.state.kit
    async with kit.unit_of_work() as uow:
        document = await ensure_current_consent_document(uow.session)
        await uow.commit()
    return document.version


async def register_at_mock(mock: str, sub: str, claims: dict[str, Any]) -> None:
    async with httpx.AsyncClient() as real:
        response = await real.put(f"{mock}/users/{sub}", json=claims)
    assert response.status_code == 204, response.text


def with_params(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(params)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def begin(client: httpx.AsyncClient, slug: str, next_path: str | None = None) -> str:
    """Press "Войти через …": our app answers with a redirect to the provider."""
    response = await client.get(f"/signin/{slug}", params={"next": next_path} if next_path else None)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def at_provider(authorize_url: str, *, sub: str | None = None, deny: bool = False) -> str:
    """The person signs in (or refuses) at the provider, a real HTTP server; returns where it sends them."""
    async with httpx.AsyncClient() as real:
        if sub is not None or deny:  # the mock's consent form
            response = await real.post(authorize_url, data={"action": "deny"} if deny else {"sub": sub})
        else:  # the hostile provider redirects at once
            response = await real.get(authorize_url)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def back_to_us(client: httpx.AsyncClient, location: str) -> httpx.Response:
    assert location.startswith(BASE_URL + "/signin/"), location
    return await client.get(location[len(BASE_URL) :])


async def sign_in(client: httpx.AsyncClient, slug: str, sub: str, next_path: str | None = None) -> httpx.Response:
    authorize_url = await begin(client, slug, next_path)
    return await back_to_us(client, await at_provider(authorize_url, sub=sub))


def csrf_of(page: httpx.Response) -> str:
    marker = 'name="csrf_token" value="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


async def identity_row(kit: ServiceContext, slug: str, sub: str) -> Any:
    async with kit.session_factory() as session:
        return await federation_db.identity_by_subject(session, slug, sub)


async def identities_of(kit: ServiceContext, slug: str) -> int:
    async with kit.session_factory() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(external_identities).where(external_identities.c.provider == slug)
            )
            or 0
        )


async def session_user(kit: ServiceContext, client: httpx.AsyncClient) -> uuid.UUID | None:
    async with kit.session_factory() as session:
        found = await current_session(session, client.cookies.get("gorod_session"))
    return found.user_id if found else None


def has_session_cookie(response: httpx.Response) -> bool:
    return any(value.startswith("gorod_session=") for value in response.headers.get_list("set-cookie"))


# --- first and later sign-ins ----------------------------------------------------------------------


async def test_first_login_creates_a_linked_volunteer_then_asks_for_consent_then_signs_in(
    client: httpx.AsyncClient, kit: ServiceContext, mock_provider: str, configure: Configure, consent_version: str
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    email = f"{sub}@example.org"
    await register_at_mock(
        mock_provider,
        sub,
        {"email": email, "email_verified": True, "name": "Анна Волонтёрова", "volunteer": {"id": 777}},
    )

    authorize_url = await begin(client, slug, "/profile?tab=1")
    query = parse_qs(urlsplit(authorize_url).query)
    assert authorize_url.startswith(f"{mock_provider}/oauth2/authorize?")
    assert query["redirect_uri"] == [f"{BASE_URL}/signin/{slug}/callback"]
    assert query["code_challenge_method"] == ["S256"]
    assert query["nonce"][0]
    assert query["state"][0]
    assert query["client_id"] == [CLIENT_ID]

    answer = await back_to_us(client, await at_provider(authorize_url, sub=sub))
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/signin/{slug}/complete"
    assert not has_session_cookie(answer)

    link = await identity_row(kit, slug, sub)
    assert link is not None
    assert link.claims == {"email": email, "email_verified": True, "name": "Анна Волонтёрова", "volunteer_id": "777"}
    async with kit.session_factory() as session:
        user = (await session.execute(select(users).where(users.c.id == link.user_id))).one()
        roles = set((await session.scalars(select(user_roles.c.role).where(user_roles.c.user_id == user.id))).all())
        audits = (await session.execute(select(audit_log).where(audit_log.c.subject_id == user.id))).all()
        outbox = kit_tables("auth").outbox
        events = (
            await session.execute(select(outbox.c.body).where(outbox.c.body["subject"].astext == str(user.id)))
        ).all()
    assert user.email == email
    assert user.email_verified_at is not None
    assert user.password_hash is None
    assert user.full_name == "Анна Волонтёрова"
    assert roles == {"volunteer"}
    linked = [row for row in audits if row.action == "identity.linked"]
    assert len(linked) == 1
    assert linked[0].details == {"provider": slug}
    assert all(email not in json.dumps(row.details) and sub not in json.dumps(row.details) for row in audits)
    [event] = [row.body for row in events if row.body["type"] == "ru.gorod.auth.user.registered.v1"]
    assert event["data"]["user_id"] == str(user.id)
    assert event["data"]["channel"] == "dobro.ru"
    assert event["data"]["registered_at"]

    page = await client.get(f"/signin/{slug}/complete")
    assert page.status_code == 200
    assert 'name="consent"' in page.text
    assert 'name="email"' not in page.text
    assert page.headers["x-frame-options"] == "DENY"

    no_csrf = await client.post(f"/signin/{slug}/complete", data={"consent": "yes"})
    assert no_csrf.status_code == 403
    refused = await client.post(f"/signin/{slug}/complete", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 400
    assert "согласия" in refused.text
    assert 'role="alert"' in refused.text
    assert not has_session_cookie(refused)

    done = await client.post(
        f"/signin/{slug}/complete",
        data={"csrf_token": csrf_of(page), "consent": "yes", "document_version": consent_version},
    )
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/profile?tab=1"
    assert await session_user(kit, client) == user.id
    async with kit.session_factory() as session:
        given = (await session.execute(select(consents).where(consents.c.user_id == user.id))).all()
    assert [(row.document_version, row.channel) for row in given] == [(consent_version, "dobro.ru")]

    # The step cannot be replayed to mint another session.
    again = await client.get(f"/signin/{slug}/complete")
    assert again.status_code == 400


async def test_a_later_login_reuses_the_link(
    client: httpx.AsyncClient,
    kit: ServiceContext,
    mock_provider: str,
    configure: Configure,
    consent_version: str,
    browser: Browser,
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"email": f"{sub}@example.org", "email_verified": True})
    first = await sign_in(client, slug, sub)
    page = await client.get(first.headers["location"])
    await client.post(f"/signin/{slug}/complete", data={"csrf_token": csrf_of(page), "consent": "yes"})
    user_id = (await identity_row(kit, slug, sub)).user_id

    # A new name at the provider, another browser: signed in at once, to the same account.
    await register_at_mock(
        mock_provider, sub, {"email": f"{sub}@example.org", "email_verified": True, "name": "Новое Имя"}
    )
    async with browser() as other:
        second = await sign_in(other, slug, sub, "/widget/done")
        assert second.status_code == 303, second.text
        assert second.headers["location"] == "/widget/done"
        assert await session_user(kit, other) == user_id
    async with kit.session_factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(users).where(users.c.email == f"{sub}@example.org")
        )
    assert count == 1
    assert (await identity_row(kit, slug, sub)).claims["name"] == "Новое Имя"


@pytest.fixture(scope="module")
async def smtp() -> AsyncIterator[SmtpSink]:
    async with smtp_server() as sink:
        yield sink


@pytest.fixture(scope="module")
async def mail_app(auth_settings: AuthSettings, smtp: SmtpSink) -> AsyncIterator[FastAPI]:
    """The auth app whose mail goes to the loopback SMTP server."""
    app = create_app(auth_settings.model_copy(update={"smtp_host": smtp.host, "smtp_port": smtp.port}))
    async with app.router.lifespan_context(app):
        yield app


async def test_a_provider_without_email_gets_it_asked_and_confirmed(
    kit: ServiceContext,
    mock_provider: str,
    configure: Configure,
    consent_version: str,
    make_user: MakeUser,
    browser: Browser,
    mail_app: FastAPI,
    smtp: SmtpSink,
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"name": "Без Почты"})
    async with browser(mail_app) as person:
        answer = await sign_in(person, slug, sub)
        page = await person.get(answer.headers["location"])
        assert 'name="email"' in page.text
        assert 'name="consent"' in page.text
        assert 'for="email"' in page.text
        assert 'id="email"' in page.text

        taken = await make_user()
        refused = await person.post(
            f"/signin/{slug}/complete", data={"csrf_token": csrf_of(page), "consent": "yes", "email": taken.email}
        )
        assert refused.status_code == 400
        assert "другой учётной записи" in refused.text
        invalid = await person.post(
            f"/signin/{slug}/complete", data={"csrf_token": csrf_of(page), "consent": "yes", "email": "not an address"}
        )
        assert invalid.status_code == 400
        assert 'aria-invalid="true"' in invalid.text
        email = f"{sub}@example.org"
        done = await person.post(
            f"/signin/{slug}/complete", data={"csrf_token": csrf_of(page), "consent": "yes", "email": email.upper()}
        )
        assert done.status_code == 303
    async with kit.session_factory() as session:
        user = (await session.execute(select(users).where(users.c.email == email))).one()
    assert user.email_verified_at is None  # not until the link is followed
    assert (await identity_row(kit, slug, sub)).user_id == user.id
    assert "/confirm-email" in SmtpSink.link(await smtp.wait_for(to=email), "/confirm-email")


# --- an e-mail that is already an account's -------------------------------------------------------------


async def test_an_existing_email_is_linked_only_after_the_password(
    kit: ServiceContext,
    mock_provider: str,
    configure: Configure,
    consent_version: str,
    make_user: MakeUser,
    browser: Browser,
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    owner = await make_user()
    async with kit.unit_of_work() as uow:
        await federation_db.insert_consent(uow.session, owner.id, consent_version, channel="web")
        await uow.commit()
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"email": owner.email.upper(), "email_verified": True})

    async with browser() as person:
        answer = await sign_in(person, slug, sub)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/signin/{slug}/link"
        assert not has_session_cookie(answer)
        assert await identity_row(kit, slug, sub) is None  # never silently
        page = await person.get(f"/signin/{slug}/link")
        assert page.status_code == 200
        assert 'type="password"' in page.text
        assert owner.email in page.text

        wrong = await person.post(
            f"/signin/{slug}/link", data={"csrf_token": csrf_of(page), "email": owner.email, "password": "not it"}
        )
        assert wrong.status_code == 400
        assert "Неверный" in wrong.text
        assert not has_session_cookie(wrong)
        assert await identity_row(kit, slug, sub) is None
        no_csrf = await person.post(f"/signin/{slug}/link", data={"email": owner.email, "password": PASSWORD})
        assert no_csrf.status_code == 403
        assert await identity_row(kit, slug, sub) is None

        # Another browser holding no pending link cannot use the form.
        async with browser() as other:
            stranger_page = await other.get(f"/signin/{slug}/link")
            assert stranger_page.status_code == 400

        right = await person.post(
            f"/signin/{slug}/link", data={"csrf_token": csrf_of(page), "email": owner.email, "password": PASSWORD}
        )
        assert right.status_code == 303, right.text
        assert (await identity_row(kit, slug, sub)).user_id == owner.id
        assert await session_user(kit, person) == owner.id
    async with kit.session_factory() as session:
        roles = set((await session.scalars(select(user_roles.c.role).where(user_roles.c.user_id == owner.id))).all())
    assert "volunteer" in roles

    async with browser() as later:
        again = await sign_in(later, slug, sub)
        assert again.status_code == 303
        assert again.headers["location"] == "/"
        assert await session_user(kit, later) == owner.id


async def test_wrong_passwords_lock_the_link_form(
    kit: ServiceContext, mock_provider: str, configure: Configure, make_user: MakeUser, browser: Browser
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    owner = await make_user()
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"email": owner.email})
    async with browser() as person:
        await sign_in(person, slug, sub)
        page = await person.get(f"/signin/{slug}/link")
        for _ in range(5):
            wrong = await person.post(
                f"/signin/{slug}/link", data={"csrf_token": csrf_of(page), "email": owner.email, "password": "guess"}
            )
            assert wrong.status_code == 400
        locked = await person.post(
            f"/signin/{slug}/link", data={"csrf_token": csrf_of(page), "email": owner.email, "password": PASSWORD}
        )
        assert locked.status_code == 400
        assert "Слишком много" in locked.text
    assert await identity_row(kit, slug, sub) is None
    async with kit.session_factory() as session:
        actions = (await session.scalars(select(audit_log.c.action).where(audit_log.c.subject_id == owner.id))).all()
    assert "login.locked" in actions


async def test_an_unconfirmed_account_is_linked_only_if_the_provider_vouches_for_its_address(
    kit: ServiceContext, mock_provider: str, configure: Configure, consent_version: str, browser: Browser
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    email = f"unconfirmed-{uuid.uuid4().hex[:10]}@example.org"
    password_hash = await asyncio.to_thread(hash_password, PASSWORD)
    async with kit.unit_of_work() as uow:
        user_id = await users_db.insert_user(uow.session, email=email, password_hash=password_hash)
        await uow.commit()
    sub = f"dobro-{uuid.uuid4().hex[:10]}"

    await register_at_mock(mock_provider, sub, {"email": email, "email_verified": False})
    async with browser() as person:
        await sign_in(person, slug, sub)
        page = await person.get(f"/signin/{slug}/link")
        refused = await person.post(
            f"/signin/{slug}/link", data={"csrf_token": csrf_of(page), "email": email, "password": PASSWORD}
        )
        assert refused.status_code == 400
        assert "подтвердите адрес" in refused.text
        assert not has_session_cookie(refused)
    assert await identity_row(kit, slug, sub) is None

    await register_at_mock(mock_provider, sub, {"email": email, "email_verified": True})
    async with browser() as person:
        await sign_in(person, slug, sub)
        page = await person.get(f"/signin/{slug}/link")
        linked = await person.post(
            f"/signin/{slug}/link", data={"csrf_token": csrf_of(page), "email": email, "password": PASSWORD}
        )
        assert linked.status_code == 303
        assert linked.headers["location"] == f"/signin/{slug}/complete"  # no consent given yet
    assert (await identity_row(kit, slug, sub)).user_id == user_id
    async with kit.session_factory() as session:
        user = (await session.execute(select(users).where(users.c.id == user_id))).one()
    assert user.email_verified_at is not None


# --- refusals -----------------------------------------------------------------------------------------


async def test_a_different_state_is_refused(
    client: httpx.AsyncClient, kit: ServiceContext, mock_provider: str, configure: Configure, browser: Browser
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"email": f"{sub}@example.org"})

    location = await at_provider(await begin(client, slug), sub=sub)
    tampered = await back_to_us(client, with_params(location, state="forged-state"))
    assert tampered.status_code == 400
    assert "Начните вход заново" in tampered.text
    assert 'role="alert"' in tampered.text

    # The genuine callback, but in a browser that did not start the sign-in (login CSRF).
    location = await at_provider(await begin(client, slug), sub=sub)
    async with browser() as other:
        foreign = await back_to_us(other, location)
        assert foreign.status_code == 400
    assert await identities_of(kit, slug) == 0

    # The control: the same steps with the right state and browser succeed.
    location = await at_provider(await begin(client, slug), sub=sub)
    assert (await back_to_us(client, location)).status_code == 303


async def test_a_different_nonce_is_refused(
    client: httpx.AsyncClient, kit: ServiceContext, mock_provider: str, configure: Configure
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"email": f"{sub}@example.org"})
    authorize_url = with_params(await begin(client, slug), nonce="replayed-nonce")
    answer = await back_to_us(client, await at_provider(authorize_url, sub=sub))
    assert answer.status_code == 502
    assert "не можем доверять" in answer.text
    assert await identities_of(kit, slug) == 0


async def test_a_callback_naming_another_issuer_is_refused(
    client: httpx.AsyncClient, kit: ServiceContext, mock_provider: str, configure: Configure
) -> None:
    """RFC 9207: an ``iss`` in the callback that is not our provider's means a mix-up."""
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"email": f"{sub}@example.org"})
    location = await at_provider(await begin(client, slug), sub=sub)
    answer = await back_to_us(client, with_params(location, iss="https://other-provider.example"))
    assert answer.status_code == 502
    assert await identities_of(kit, slug) == 0
    location = await at_provider(await begin(client, slug), sub=sub)
    assert (await back_to_us(client, with_params(location, iss=mock_provider))).status_code == 303


async def test_the_providers_error_is_shown(
    client: httpx.AsyncClient, kit: ServiceContext, mock_provider: str, configure: Configure
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    location = await at_provider(await begin(client, slug), deny=True)
    assert "error=access_denied" in location
    answer = await back_to_us(client, location)
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "Вход отменён" in answer.text
    assert "DOBRO.RU" in answer.text
    assert not has_session_cookie(answer)


@pytest.mark.parametrize(
    "next_path", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/\tx"]
)
async def test_next_must_stay_on_our_site(
    client: httpx.AsyncClient, mock_provider: str, configure: Configure, next_path: str
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    answer = await client.get(f"/signin/{slug}", params={"next": next_path})
    assert answer.status_code == 400
    assert "location" not in answer.headers
    assert "Адрес возврата" in answer.text


async def test_unknown_disabled_or_unconfigured_providers_show_a_page(
    client: httpx.AsyncClient, kit: ServiceContext, mock_provider: str, configure: Configure
) -> None:
    assert (await client.get("/signin/nosuchprovider")).status_code == 404
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"), secret=False)
    no_secret = await client.get(f"/signin/{slug}")
    assert no_secret.status_code == 503
    assert "настройка не завершена" in no_secret.text
    async with kit.unit_of_work() as uow:
        await set_provider_enabled(uow.session, slug, False)
        await uow.commit()
    os.environ[secret_variable(slug)] = CLIENT_SECRET
    assert (await client.get(f"/signin/{slug}")).status_code == 404


@pytest.mark.parametrize(
    ("mode", "why"),
    [
        ("alg-none", "unsigned id_token"),
        ("hs256", "id_token keyed with the client secret"),
        ("forged", "id_token signed by a key not in the JWKS"),
        ("oversized", "token answer over 1 MiB"),
        ("malformed", "HTML instead of JSON"),
        ("deep", "a nesting bomb"),
        ("error", "the token endpoint's error"),
    ],
)
async def test_hostile_answers_are_refused_with_a_page(
    client: httpx.AsyncClient,
    kit: ServiceContext,
    hostile_provider: HostileProvider,
    configure: Configure,
    mode: str,
    why: str,
) -> None:
    slug = await configure(oidc_settings(hostile_provider.discovery_url(mode), use_userinfo=False))
    answer = await back_to_us(client, await at_provider(await begin(client, slug)))
    assert answer.status_code == 502, why
    assert answer.headers["content-type"].startswith("text/html")
    assert "не можем доверять" in answer.text, why
    assert "Traceback" not in answer.text
    assert "<script>" not in answer.text
    assert not has_session_cookie(answer)
    assert await identities_of(kit, slug) == 0


async def test_the_hostile_provider_in_good_mode_is_accepted(
    client: httpx.AsyncClient, kit: ServiceContext, hostile_provider: HostileProvider, configure: Configure
) -> None:
    """The control of the test above: the same server, answering correctly, signs in."""
    slug = await configure(oidc_settings(hostile_provider.discovery_url("good"), use_userinfo=False))
    answer = await back_to_us(client, await at_provider(await begin(client, slug)))
    assert answer.status_code == 303, answer.text
    assert await identities_of(kit, slug) == 1


# --- plain OAuth 2 -------------------------------------------------------------------------------------


async def test_plain_oauth2_with_userinfo_works(
    client: httpx.AsyncClient, kit: ServiceContext, mock_provider: str, configure: Configure, consent_version: str
) -> None:
    slug = await configure(
        {
            "protocol": "oauth2",
            "authorization_endpoint": f"{mock_provider}/oauth2/authorize",
            "token_endpoint": f"{mock_provider}/oauth2/token",
            "userinfo_endpoint": f"{mock_provider}/userinfo",
            "client_id": CLIENT_ID,
            "token_endpoint_auth_method": "client_secret_post",
            "scopes": ["email", "profile"],
            "claims": {
                "subject": "sub",
                "email": "volunteer_profile.contacts.mail",
                "email_verified": None,
                "name": None,
                "given_name": "volunteer_profile.first_name",
                "family_name": "volunteer_profile.last_name",
                "volunteer_id": "volunteer_profile.id",
            },
        }
    )
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    email = f"{sub}@example.org"
    await register_at_mock(
        mock_provider,
        sub,
        {
            "volunteer_profile": {
                "id": "V-55",
                "first_name": "Пётр",
                "last_name": "Иванов",
                "contacts": {"mail": email},
            }
        },
    )
    authorize_url = await begin(client, slug)
    assert "nonce" not in parse_qs(urlsplit(authorize_url).query)
    assert parse_qs(urlsplit(authorize_url).query)["scope"] == ["email profile"]
    answer = await back_to_us(client, await at_provider(authorize_url, sub=sub))
    assert answer.status_code == 303, answer.text
    link = await identity_row(kit, slug, sub)
    assert link.claims == {"email": email, "email_verified": False, "name": "Пётр Иванов", "volunteer_id": "V-55"}
    async with kit.session_factory() as session:
        user = (await session.execute(select(users).where(users.c.id == link.user_id))).one()
    assert user.email == email
    assert user.email_verified_at is None


# --- unlinking ------------------------------------------------------------------------------------------


@pytest.fixture
async def bearer_for(auth_app: FastAPI) -> AsyncIterator[Callable[[uuid.UUID], Awaitable[str]]]:
    """Access tokens from the app's own key ring, verified against the app's own JWKS."""
    kit: ServiceContext = auth_app.state.kit
    keys = auth_app.state.keys

    async def jwks(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=await keys.jwks())

    original = kit.token_verifier
    kit.token_verifier = TokenVerifier(
        jwks_url=f"{BASE_URL}/.well-known/jwks.json",
        issuer=kit.settings.jwt_issuer,
        audience="auth",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(jwks)),
    )

    async def mint(user_id: uuid.UUID) -> str:
        key = await keys.signing_key()
        claims = access_token_claims(
            issuer=kit.settings.jwt_issuer,
            subject=str(user_id),
            client_id="gorod-web",
            audience=["auth", "gateway"],
            scope="openid",
            roles=["citizen"],
            issued_at=datetime.now(UTC),
            ttl=300,
        )
        return key.sign(claims, typ="at+jwt")

    try:
        yield mint
    finally:
        await kit.token_verifier.aclose()
        kit.token_verifier = original


async def test_unlink_is_refused_when_it_would_lock_the_user_out_and_works_otherwise(
    client: httpx.AsyncClient,
    kit: ServiceContext,
    mock_provider: str,
    configure: Configure,
    consent_version: str,
    make_user: MakeUser,
    bearer_for: Callable[[uuid.UUID], Awaitable[str]],
    browser: Browser,
) -> None:
    slug = await configure(oidc_settings(f"{mock_provider}/.well-known/openid-configuration"))
    # A federated-only account, signed in by its browser session.
    sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, sub, {"email": f"{sub}@example.org", "email_verified": True})
    page = await client.get((await sign_in(client, slug, sub)).headers["location"])
    await client.post(f"/signin/{slug}/complete", data={"csrf_token": csrf_of(page), "consent": "yes"})
    assert await session_user(kit, client) is not None

    refused = await client.delete(f"/api/v1/me/identities/{slug}")
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "единственный способ" in refused.json()["detail"]
    assert await identity_row(kit, slug, sub) is not None

    # An account with a password, linked after proving it, unlinks with a bearer token.
    owner = await make_user()
    owner_sub = f"dobro-{uuid.uuid4().hex[:10]}"
    await register_at_mock(mock_provider, owner_sub, {"email": owner.email})
    async with browser() as owners_browser:
        await sign_in(owners_browser, slug, owner_sub)
        link_page = await owners_browser.get(f"/signin/{slug}/link")
        linked = await owners_browser.post(
            f"/signin/{slug}/link",
            data={"csrf_token": csrf_of(link_page), "email": owner.email, "password": PASSWORD},
        )
        assert linked.status_code == 303
    assert (await identity_row(kit, slug, owner_sub)).user_id == owner.id

    # Nobody else can: not anonymous, not another user (who has no such link of their own).
    async with browser() as anonymous:
        assert (await anonymous.delete(f"/api/v1/me/identities/{slug}")).status_code == 401
    stranger = await make_user()
    other = await client.delete(
        f"/api/v1/me/identities/{slug}", headers={"Authorization": f"Bearer {await bearer_for(stranger.id)}"}
    )
    assert other.status_code == 404
    assert await identity_row(kit, slug, owner_sub) is not None

    token = await bearer_for(owner.id)
    done = await client.delete(f"/api/v1/me/identities/{slug}", headers={"Authorization": f"Bearer {token}"})
    assert done.status_code == 204, done.text
    assert await identity_row(kit, slug, owner_sub) is None
    async with kit.session_factory() as session:
        roles = set((await session.scalars(select(user_roles.c.role).where(user_roles.c.user_id == owner.id))).all())
        actions = (await session.scalars(select(audit_log.c.action).where(audit_log.c.subject_id == owner.id))).all()
    assert "volunteer" not in roles  # it came with the link
    assert "identity.unlinked" in actions
    again = await client.delete(f"/api/v1/me/identities/{slug}", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 404

    # Signing in through the provider again now asks for the password again: the link is really gone.
    async with browser() as later:
        assert (await sign_in(later, slug, owner_sub)).headers["location"] == f"/signin/{slug}/link"
