"""The sender and the receiver, each against a real SMTP peer on loopback (aiosmtpd), both ways. No database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage

import aiosmtplib
import pytest

from routing.mail import compose, sender
from routing.mail.receiver import start
from routing.mail.reply_address import new_token, reply_address
from routing.mail.settings import MailSettings
from servicekit.testing.smtp import HOST, free_port, smtp_server


def settings(**changes: object) -> MailSettings:
    base = MailSettings(
        smtp_host=HOST, retry_delays=(0.05, 0.05), from_address="obrashcheniya@gorod.example", inbound_host=HOST
    )
    return base.model_copy(update=changes)


def appeal_message(reply_to: str) -> EmailMessage:
    letter = compose.AppealLetter(
        appeal_id=uuid.uuid4(),
        authority_name="МКУ «Благоустройство Коломны»",
        authority_email="blago@kolomna.example",
        category_name="Переполненные контейнеры",
        title="Мусор не вывозят неделю",
        description="Контейнерная площадка переполнена, мусор лежит на земле.",
        address="Коломна, ул. Зелёная, 12",
        lon=38.79,
        lat=55.09,
        published_at=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
        applicant=None,
    )
    return compose.compose(
        letter, from_address="obrashcheniya@gorod.example", from_name="Город", reply_to=reply_to, now=datetime.now(UTC)
    )


async def test_sends_with_the_reply_address_as_envelope_sender() -> None:
    reply_to = reply_address(new_token(), local_part="appeal", domain="gorod.example")
    async with smtp_server() as peer:
        await sender.send(appeal_message(reply_to), settings(smtp_port=peer.port), envelope_from=reply_to)
        received = await peer.wait_for(to="blago@kolomna.example")
    assert peer.envelopes == [(reply_to, ["blago@kolomna.example"])]
    assert received["Reply-To"] == reply_to
    assert "Мусор не вывозят неделю" in received["Subject"]
    assert "Контейнерная площадка переполнена" in peer.text(received)


async def test_transient_refusals_are_retried() -> None:
    async with smtp_server() as peer:
        peer.fail_next(2)
        await sender.send(appeal_message("appeal+x@gorod.example"), settings(smtp_port=peer.port))
        assert peer.refused == 2
        assert len(peer.messages) == 1


async def test_too_many_transient_refusals_fail_as_transient() -> None:
    async with smtp_server() as peer:
        peer.fail_next(3)
        with pytest.raises(sender.SendError) as failure:
            await sender.send(appeal_message("appeal+x@gorod.example"), settings(smtp_port=peer.port))
    assert not failure.value.permanent
    assert failure.value.attempts == 3
    assert failure.value.reason.startswith("451")
    assert peer.messages == []


async def test_a_permanent_refusal_is_not_retried() -> None:
    async with smtp_server() as peer:
        peer.fail_next(1, "550 5.7.1 Message rejected as spam")
        with pytest.raises(sender.SendError) as failure:
            await sender.send(appeal_message("appeal+x@gorod.example"), settings(smtp_port=peer.port))
        assert peer.refused == 1
    assert failure.value.permanent
    assert failure.value.attempts == 1
    assert "5.7.1" in failure.value.reason


async def test_no_server_is_transient() -> None:
    with pytest.raises(sender.SendError) as failure:
        await sender.send(appeal_message("appeal+x@gorod.example"), settings(smtp_port=free_port(), smtp_timeout=2))
    assert not failure.value.permanent
    assert failure.value.attempts == 3


async def test_receiver_takes_replies_to_reply_addresses_only() -> None:
    received: list[tuple[bytes, str | None, list[str]]] = []

    async def handle(raw: bytes, mail_from: str | None, rcpt_tos: list[str]) -> None:
        received.append((raw, mail_from, rcpt_tos))

    config = settings(reply_domain="gorod.example")
    server = await start(config, handle, port=free_port())
    port = server.sockets[0].getsockname()[1]
    token = new_token()
    try:
        reply = EmailMessage()
        reply["From"] = "blago@kolomna.example"
        reply["To"] = f"appeal+{token}@gorod.example"
        reply["Subject"] = "RE: Сообщение о проблеме"
        reply.set_content("Контейнеры вывезены 23.11.2026.")
        await aiosmtplib.send(reply, hostname=HOST, port=port, timeout=5)
        assert len(received) == 1
        raw, mail_from, rcpt_tos = received[0]
        assert mail_from == "blago@kolomna.example"
        assert rcpt_tos == [f"appeal+{token}@gorod.example"]
        assert "Контейнеры вывезены".encode() in raw or b"=D0=9A" in raw or b"0JrQ" in raw
        # Not an open relay: other recipients are refused.
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await aiosmtplib.send(reply, hostname=HOST, port=port, recipients=["someone@elsewhere.example"], timeout=5)
        assert len(received) == 1
    finally:
        server.close()
        await server.wait_closed()


async def test_receiver_asks_to_retry_when_handling_fails() -> None:
    calls = 0

    async def handle(raw: bytes, mail_from: str | None, rcpt_tos: list[str]) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("database is away")

    server = await start(settings(), handle, port=free_port())
    port = server.sockets[0].getsockname()[1]
    try:
        reply = EmailMessage()
        reply["From"] = "blago@kolomna.example"
        reply["To"] = f"appeal+{new_token()}@gorod.example"
        reply["Subject"] = "RE"
        reply.set_content("Ответ")
        with pytest.raises(aiosmtplib.SMTPDataError) as failure:
            await aiosmtplib.send(reply, hostname=HOST, port=port, timeout=5)
        assert failure.value.code == 451
        assert calls == 1
    finally:
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0)
