"""E-mail over SMTP: retries on transient failures, no retry on a permanent refusal, and a send that fails
never loses the account (the person asks for the link again)."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from auth.db.tables import users
from auth.main import create_app
from auth.settings import AuthSettings
from auth.usecases.mail import MailError, send_mail
from servicekit.app import ServiceContext
from servicekit.testing.smtp import SmtpSink, free_port, smtp_server, smtp_sink

pytestmark = pytest.mark.integration

__all__ = ["smtp_sink"]  # the fixture, imported to be used here


def settings_for(auth_settings: AuthSettings, port: int) -> AuthSettings:
    return auth_settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_timeout": 2.0})


async def test_mail_is_sent_in_russian(auth_settings: AuthSettings, smtp_sink: SmtpSink) -> None:
    await send_mail(settings_for(auth_settings, smtp_sink.port), "ivan@example.org", "Проверка — Город", "Привет!\n")
    message = await smtp_sink.wait_for(to="ivan@example.org")
    assert message["Subject"] == "Проверка — Город"
    assert message["From"] == auth_settings.mail_from
    assert message["Message-ID"]
    assert message["Date"]
    assert smtp_sink.text(message) == "Привет!\n"
    assert smtp_sink.envelopes[-1][1] == ["ivan@example.org"]


async def test_transient_failures_are_retried(auth_settings: AuthSettings, smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(2)  # 451 twice, then accepted
    await send_mail(settings_for(auth_settings, smtp_sink.port), "retry@example.org", "Тема", "Текст\n")
    assert smtp_sink.refused == 2
    assert len(smtp_sink.to("retry@example.org")) == 1


async def test_too_many_transient_failures_give_up(auth_settings: AuthSettings, smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(5)
    with pytest.raises(MailError):
        await send_mail(settings_for(auth_settings, smtp_sink.port), "busy@example.org", "Тема", "Текст\n")
    assert smtp_sink.refused == 3
    assert smtp_sink.to("busy@example.org") == []


async def test_a_permanent_refusal_is_not_retried(auth_settings: AuthSettings, smtp_sink: SmtpSink) -> None:
    smtp_sink.fail_next(3, "550 5.1.1 No such user")
    with pytest.raises(MailError):
        await send_mail(settings_for(auth_settings, smtp_sink.port), "gone@example.org", "Тема", "Текст\n")
    assert smtp_sink.refused == 1


@pytest.fixture
async def app_without_smtp(auth_settings: AuthSettings) -> AsyncIterator[tuple[FastAPI, int]]:
    """The app whose SMTP server is down (nothing listens on its port, yet)."""
    port = free_port()
    app = create_app(settings_for(auth_settings, port))
    async with app.router.lifespan_context(app):
        yield app, port


async def test_a_failed_send_does_not_lose_the_account(app_without_smtp: tuple[FastAPI, int]) -> None:
    app, port = app_without_smtp
    kit: ServiceContext = app.state.kit
    ip = f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        page = await client.get("/register")
        version = re.search(r'name="consent_version" value="([^"]+)"', page.text)
        assert version
        email = f"offline-{uuid.uuid4().hex[:10]}@example.org"
        form = {
            "csrf_token": client.cookies["gorod_csrf"],
            "email": email,
            "password": "Correct horse 2026",
            "full_name": "Анна Смирнова",
            "consent": "yes",
            "consent_version": version.group(1),
        }
        answer = await client.post("/register", data=form)
        assert answer.status_code == 200
        assert "Проверьте почту" in answer.text
        async with kit.session_factory() as session:
            assert await session.scalar(select(users.c.id).where(users.c.email == email)) is not None

        # The mail server is back: the person asks for the link again, and it works.
        async with smtp_server(port=port) as smtp:
            again = await client.post(
                "/confirm-email", data={"csrf_token": client.cookies["gorod_csrf"], "email": email}
            )
            assert again.status_code == 200
            link = smtp.link(await smtp.wait_for(to=email), "/confirm-email")
        confirmed = await client.get(urlsplit(link).path + "?" + urlsplit(link).query)
        assert confirmed.status_code == 200
        assert "подтверждён" in confirmed.text
