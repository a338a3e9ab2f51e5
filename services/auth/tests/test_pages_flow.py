"""People's account pages end to end, with e-mail going to a real SMTP server on loopback: registration
with consent, confirmation link, sign-in and its cookie, duplicate e-mails, password reset, profile edits,
and the events they record in the outbox."""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from auth.db.tables import consents, email_tokens, users
from auth.main import create_app
from auth.settings import AuthSettings
from auth.usecases.accounts import DEFAULT_CONSENT_VERSION
from servicekit.app import ServiceContext
from servicekit.tables import kit_tables
from servicekit.testing.smtp import SmtpSink, smtp_server

pytestmark = pytest.mark.integration

BASE_URL = "http://127.0.0.1:8000"
PASSWORD = "Correct horse 2026"
CONTRACTS = __import__("pathlib").Path(__file__).resolve().parents[3] / "contracts" / "events" / "auth"

Browser = Callable[..., httpx.AsyncClient]


@pytest.fixture(scope="module")
async def smtp() -> AsyncIterator[SmtpSink]:
    async with smtp_server() as sink:
        yield sink


async def _app(settings: AuthSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def mail_app(auth_settings: AuthSettings, smtp: SmtpSink) -> AsyncIterator[FastAPI]:
    """The auth app whose mail goes to the loopback SMTP server."""
    async for app in _app(auth_settings.model_copy(update={"smtp_host": smtp.host, "smtp_port": smtp.port})):
        yield app


@pytest.fixture
def mail_kit(mail_app: FastAPI) -> ServiceContext:
    kit: ServiceContext = mail_app.state.kit
    return kit


@pytest.fixture
async def browser(mail_app: FastAPI) -> AsyncIterator[Browser]:
    """Browsers on the mail app, each from an address of its own (throttling counts per address)."""
    opened: list[httpx.AsyncClient] = []

    def open_browser(app: FastAPI | None = None, base_url: str = BASE_URL) -> httpx.AsyncClient:
        ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        transport = httpx.ASGITransport(app=app or mail_app, client=(ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url=base_url)
        opened.append(client)
        return client

    yield open_browser
    for client in opened:
        await client.aclose()


def new_email() -> str:
    return f"person-{uuid.uuid4().hex[:12]}@example.org"


async def get_form(client: httpx.AsyncClient, path: str) -> tuple[httpx.Response, str]:
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return page, client.cookies["gorod_csrf"]


async def register(client: httpx.AsyncClient, email: str, **overrides: str) -> httpx.Response:
    page, csrf = await get_form(client, "/register")
    version = re.search(r'name="consent_version" value="([^"]+)"', page.text)
    assert version
    data = {
        "csrf_token": csrf,
        "email": email,
        "password": PASSWORD,
        "full_name": "Анна Смирнова",
        "phone": "+7 912 345-67-89",
        "home_territory": "45383000",
        "consent": "yes",
        "consent_version": version.group(1),
        **overrides,
    }
    return await client.post("/register", data=data)


async def sign_in(client: httpx.AsyncClient, email: str, password: str = PASSWORD, next_: str = "") -> httpx.Response:
    _, csrf = await get_form(client, "/signin" + (f"?next={next_}" if next_ else ""))
    return await client.post("/signin", data={"csrf_token": csrf, "email": email, "password": password, "next": next_})


async def outbox_events(kit: ServiceContext, routing_key: str, subject: uuid.UUID) -> list[dict[str, Any]]:
    outbox = kit_tables("auth").outbox
    async with kit.session_factory() as session:
        rows = await session.execute(
            select(outbox.c.body)
            .where(outbox.c.routing_key == routing_key, outbox.c.body["subject"].astext == str(subject))
            .order_by(outbox.c.id)
        )
        return [row.body for row in rows]


def assert_matches_contract(event: dict[str, Any], name: str) -> None:
    """The data has every required field of the contract, of the right JSON type (no jsonschema here)."""
    schema = __import__("json").loads((CONTRACTS / f"{name}.json").read_text())
    data = event["data"]
    assert event["type"] == f"ru.gorod.auth.{name}"
    for field in schema["required"]:
        assert field in data, field
    for field, spec in schema["properties"].items():
        if field in data:
            kind = {"string": str, "array": list, "object": dict}[spec["type"]]
            assert isinstance(data[field], kind), field
            if spec.get("format") == "uuid":
                uuid.UUID(data[field])
            if spec.get("format") == "date-time":
                datetime.fromisoformat(data[field])


async def user_row(kit: ServiceContext, email: str) -> Any:
    async with kit.session_factory() as session:
        return (await session.execute(select(users).where(users.c.email == email))).first()


async def confirmed_account(client: httpx.AsyncClient, smtp: SmtpSink, email: str) -> None:
    assert (await register(client, email)).status_code == 200
    link = smtp.link(await smtp.wait_for(to=email), "/confirm-email")
    assert (await client.get(link)).status_code == 200


# --- registration → e-mail → confirmation → sign-in -----------------------------------------------------


async def test_register_confirm_and_sign_in(
    browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext, auth_settings: AuthSettings
) -> None:
    client = browser()
    email = new_email()
    started = datetime.now(UTC)

    answer = await register(client, email.upper())
    assert answer.status_code == 200
    assert "Проверьте почту" in answer.text

    message = await smtp.wait_for(to=email)
    assert message["Subject"] == "Подтвердите адрес электронной почты — Город"
    link = smtp.link(message, "/confirm-email")
    assert link.startswith(f"{auth_settings.jwt_issuer.rstrip('/')}/confirm-email?token=")
    token = parse_qs(urlsplit(link).query)["token"][0]

    user = await user_row(mail_kit, email)
    assert user is not None
    assert user.email_verified_at is None
    assert (user.full_name, user.phone, user.home_territory) == ("Анна Смирнова", "+79123456789", "45383000")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    async with mail_kit.session_factory() as session:
        consent = (await session.execute(select(consents).where(consents.c.user_id == user.id))).one()
        stored = (await session.execute(select(email_tokens).where(email_tokens.c.user_id == user.id))).one()
    assert consent.channel == "web"
    assert consent.document_version  # the document in force (seeded as DEFAULT_CONSENT_VERSION if none)
    assert started - timedelta(seconds=5) <= consent.accepted_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert stored.purpose == "confirm_email"
    assert timedelta(hours=23) < stored.expires_at - stored.created_at <= timedelta(hours=24, seconds=5)

    # Not confirmed yet: the right password is refused, with a way to get the link again.
    refused = await sign_in(client, email)
    assert refused.status_code == 403
    assert "ещё не подтверждён" in refused.text
    assert 'action="/confirm-email"' in refused.text
    assert "gorod_session" not in refused.headers.get("set-cookie", "")

    confirmed = await client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert confirmed.status_code == 200
    assert "подтверждён" in confirmed.text
    again = await client.get(f"/confirm-email?token={token}")
    assert again.status_code == 400
    assert 'role="alert"' in again.text

    signed_in = await sign_in(client, email, next_="/oauth2/authorize?client_id=gorod-web")
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/oauth2/authorize?client_id=gorod-web"
    cookie = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith("gorod_session="))
    flags = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/" in flags
    assert "secure" not in flags  # the issuer is http here

    profile = await client.get("/profile")
    assert profile.status_code == 200
    assert "Анна Смирнова" in profile.text
    assert DEFAULT_CONSENT_VERSION in profile.text or consent.document_version in profile.text

    registered = await outbox_events(mail_kit, "auth.user.registered.v1", user.id)
    assert len(registered) == 1
    assert registered[0]["data"]["user_id"] == str(user.id)
    assert registered[0]["data"]["channel"] == "web"
    assert email not in str(registered[0])
    assert_matches_contract(registered[0], "user.registered.v1")
    updated = await outbox_events(mail_kit, "auth.user.updated.v1", user.id)
    assert [event["data"]["changed"] for event in updated] == [["email_verified"]]
    assert_matches_contract(updated[0], "user.updated.v1")


async def test_cookie_is_secure_when_the_issuer_is_https(
    auth_settings: AuthSettings, smtp: SmtpSink, browser: Browser
) -> None:
    settings = auth_settings.model_copy(
        update={"jwt_issuer": "https://gorod.example", "smtp_host": smtp.host, "smtp_port": smtp.port}
    )
    async for app in _app(settings):
        client = browser(app, base_url="https://127.0.0.1:8000")  # a browser returns Secure cookies over https
        email = new_email()
        assert (await register(client, email)).status_code == 200
        link = smtp.link(await smtp.wait_for(to=email), "/confirm-email")
        assert link.startswith("https://gorod.example/confirm-email?token=")
        assert (await client.get(urlsplit(link).path + "?" + urlsplit(link).query)).status_code == 200
        signed_in = await sign_in(client, email)
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/profile"
        cookie = next(c for c in signed_in.headers.get_list("set-cookie") if c.startswith("gorod_session="))
        flags = [part.strip().lower() for part in cookie.split(";")]
        assert {"secure", "httponly", "samesite=lax"} <= set(flags)


async def test_expired_confirmation_link_is_refused(browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext) -> None:
    client = browser()
    email = new_email()
    await register(client, email)
    link = smtp.link(await smtp.wait_for(to=email), "/confirm-email")
    token = parse_qs(urlsplit(link).query)["token"][0]
    async with mail_kit.session_factory() as session:
        await session.execute(
            update(email_tokens)
            .where(email_tokens.c.token_hash == hashlib.sha256(token.encode()).hexdigest())
            .values(expires_at=func.now() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await client.get(f"/confirm-email?token={token}")).status_code == 400
    assert (await user_row(mail_kit, email)).email_verified_at is None


async def test_resend_confirmation_sends_a_new_link(browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext) -> None:
    client = browser()
    email = new_email()
    await register(client, email)
    await smtp.wait_for(to=email)
    refused = await sign_in(client, email)
    csrf = client.cookies["gorod_csrf"]
    answer = await client.post("/confirm-email", data={"csrf_token": csrf, "email": email})
    assert refused.status_code == 403
    assert answer.status_code == 200
    second = smtp.link(await smtp.wait_for(to=email, count=2), "/confirm-email")
    assert (await client.get(urlsplit(second).path + "?" + urlsplit(second).query)).status_code == 200
    assert (await user_row(mail_kit, email)).email_verified_at is not None


async def test_duplicate_email_gives_the_same_answer(
    browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext
) -> None:
    email = new_email()
    first = await register(browser(), email)
    await smtp.wait_for(to=email)
    second = await register(browser(), email, full_name="Кто-то Другой", password="Another pass 2026")

    def page(response: httpx.Response) -> str:
        return re.sub(r'name="csrf_token" value="[^"]*"', "", response.text)

    assert second.status_code == first.status_code == 200
    assert page(second) == page(first)
    async with mail_kit.session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(users).where(users.c.email == email))
    assert count == 1
    assert (await user_row(mail_kit, email)).full_name == "Анна Смирнова"  # unchanged
    notice = await smtp.wait_for(to=email, count=2)
    assert "уже есть" in smtp.text(notice)
    assert "/confirm-email" not in smtp.text(notice)


# --- password reset -------------------------------------------------------------------------------------


async def test_reset_password_ends_every_session(browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext) -> None:
    email = new_email()
    phone = browser()
    await confirmed_account(phone, smtp, email)
    assert (await sign_in(phone, email)).status_code == 303
    assert (await phone.get("/profile")).status_code == 200

    laptop = browser()
    _, csrf = await get_form(laptop, "/password/forgot")
    answer = await laptop.post("/password/forgot", data={"csrf_token": csrf, "email": email})
    assert answer.status_code == 200
    assert "Проверьте почту" in answer.text
    link = smtp.link(await smtp.wait_for(to=email, count=2), "/password/reset")
    path = urlsplit(link).path + "?" + urlsplit(link).query
    token = parse_qs(urlsplit(link).query)["token"][0]

    form = await laptop.get(path)
    assert form.status_code == 200
    assert 'name="token"' in form.text
    csrf = laptop.cookies["gorod_csrf"]
    weak = await laptop.post("/password/reset", data={"csrf_token": csrf, "token": token, "password": "short"})
    assert weak.status_code == 400
    assert "не короче 10" in weak.text

    new_password = "A brand new password 7"
    done = await laptop.post("/password/reset", data={"csrf_token": csrf, "token": token, "password": new_password})
    assert done.status_code == 200
    assert "Пароль изменён" in done.text

    # The phone's session is over; the link works once; the old password no longer signs in.
    gone = await phone.get("/profile")
    assert gone.status_code == 303
    assert gone.headers["location"] == "/signin?next=/profile"
    replay = await laptop.post(
        "/password/reset", data={"csrf_token": csrf, "token": token, "password": "Other pass 2026"}
    )
    assert replay.status_code == 400
    assert "недействительна" in replay.text
    assert (await sign_in(laptop, email, PASSWORD)).status_code == 401
    assert (await sign_in(laptop, email, new_password)).status_code == 303


async def test_forgot_password_answers_the_same_for_an_unknown_address(browser: Browser, smtp: SmtpSink) -> None:
    client = browser()
    known = new_email()
    await confirmed_account(client, smtp, known)
    unknown = new_email()
    _, csrf = await get_form(client, "/password/forgot")
    for_known = await client.post("/password/forgot", data={"csrf_token": csrf, "email": known})
    for_unknown = await client.post("/password/forgot", data={"csrf_token": csrf, "email": unknown})
    assert for_known.status_code == for_unknown.status_code == 200
    assert for_known.text == for_unknown.text
    await smtp.wait_for(to=known, count=2)
    assert smtp.to(unknown) == []


async def test_expired_reset_link_is_refused(browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext) -> None:
    client = browser()
    email = new_email()
    await confirmed_account(client, smtp, email)
    _, csrf = await get_form(client, "/password/forgot")
    await client.post("/password/forgot", data={"csrf_token": csrf, "email": email})
    link = smtp.link(await smtp.wait_for(to=email, count=2), "/password/reset")
    token = parse_qs(urlsplit(link).query)["token"][0]
    async with mail_kit.session_factory() as session:
        row = (
            await session.execute(
                select(email_tokens).where(email_tokens.c.token_hash == hashlib.sha256(token.encode()).hexdigest())
            )
        ).one()
        assert timedelta(minutes=59) < row.expires_at - row.created_at <= timedelta(hours=1, seconds=5)
        await session.execute(
            update(email_tokens)
            .where(email_tokens.c.token_hash == row.token_hash)
            .values(expires_at=func.now() - timedelta(seconds=1))
        )
        await session.commit()
    assert (await client.get(f"/password/reset?token={token}")).status_code == 400
    csrf = client.cookies["gorod_csrf"]
    answer = await client.post(
        "/password/reset", data={"csrf_token": csrf, "token": token, "password": "Fresh pass 2026"}
    )
    assert answer.status_code == 400
    assert (await sign_in(client, email)).status_code == 303  # the old password still works


# --- profile --------------------------------------------------------------------------------------------


async def test_profile_edit_records_which_fields_changed(
    browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext
) -> None:
    client = browser()
    email = new_email()
    await confirmed_account(client, smtp, email)
    await sign_in(client, email)
    _, csrf = await get_form(client, "/profile")
    data = {"csrf_token": csrf, "full_name": "Анна Иванова", "email": email, "phone": "", "home_territory": "45383000"}
    saved = await client.post("/profile", data=data)
    assert saved.status_code == 200
    assert "Изменения сохранены" in saved.text
    user = await user_row(mail_kit, email)
    assert (user.full_name, user.phone, user.home_territory) == ("Анна Иванова", None, "45383000")
    events = await outbox_events(mail_kit, "auth.user.updated.v1", user.id)
    assert events[-1]["data"]["changed"] == ["full_name", "phone"]
    assert "Анна" not in str(events[-1])
    assert email not in str(events[-1])
    assert_matches_contract(events[-1], "user.updated.v1")

    bad = await client.post("/profile", data={**data, "home_territory": "12345", "phone": "телефон"})
    assert bad.status_code == 400
    assert 'role="alert"' in bad.text
    assert "ОКТМО" in bad.text
    assert len(await outbox_events(mail_kit, "auth.user.updated.v1", user.id)) == len(events)


async def test_profile_email_change_is_confirmed_by_the_new_address(
    browser: Browser, smtp: SmtpSink, mail_kit: ServiceContext
) -> None:
    client = browser()
    old, new = new_email(), new_email()
    await confirmed_account(client, smtp, old)
    await sign_in(client, old)
    _, csrf = await get_form(client, "/profile")
    data = {"csrf_token": csrf, "full_name": "Анна Смирнова", "email": new, "phone": "+79123456789"}
    answer = await client.post("/profile", data={**data, "home_territory": "45383000"})
    assert answer.status_code == 200
    assert "новый адрес" in answer.text
    assert (await user_row(mail_kit, old)) is not None  # not changed until confirmed
    notice = await smtp.wait_for(to=old, count=2)
    assert "смена адреса" in smtp.text(notice).lower()
    link = smtp.link(await smtp.wait_for(to=new), "/confirm-email")
    confirmed = await client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert confirmed.status_code == 200
    assert "изменён" in confirmed.text
    user = await user_row(mail_kit, new)
    assert user is not None
    assert user.email_verified_at is not None
    assert await user_row(mail_kit, old) is None
    events = await outbox_events(mail_kit, "auth.user.updated.v1", user.id)
    assert events[-1]["data"]["changed"] == ["email"]
    assert (await sign_in(browser(), new)).status_code == 303
