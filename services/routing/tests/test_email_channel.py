"""The e-mail channel end to end, on the real test stack: a published problem → an appeal for an authority that
takes e-mail → the formal e-mail to a real SMTP peer on loopback → the authority's reply into our real SMTP receiver
(or the raw-message endpoint) → the answer, with its events checked against the contracts; bounces, retries,
duplicates and who may call the endpoints."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from routing import demo
from routing.db.tables import (
    appeal_answers,
    appeal_attachments,
    appeal_deadline_marks,
    appeals,
    authorities,
    deliveries,
    jurisdiction_rules,
)
from routing.mail import service
from routing.mail.compose import APPEAL_ID_HEADER
from routing.mail.receiver import start as start_receiver
from routing.mail.settings import MailSettings
from routing.mail.tables import mail_bounces, mail_inbound
from routing.settings import RoutingSettings
from routing.usecases import email_channel
from servicekit.app import ServiceContext
from servicekit.consumer import ConsumerRunner
from servicekit.testing.plugin import TestStack
from servicekit.testing.smtp import HOST, SmtpSink, free_port, smtp_server

from .conftest import Publish, appeals_of_problem, eventually, outbox, published_event

SECRET = "mail-gateway-secret-for-tests"
APPLICANT = {
    "full_name": "Смирнова Анна Петровна",
    "email": "anna.smirnova@example.org",
    "postal_address": "140400, Коломна, ул. Ленина, д. 5, кв. 12",
}
ANSWER = "Яма заделана 24.11.2026 силами МКУ «Благоустройство Коломны»."

pytestmark = pytest.mark.integration


@pytest.fixture
async def peer() -> AsyncIterator[SmtpSink]:
    async with smtp_server() as server:
        yield server


@pytest.fixture
def mail(peer: SmtpSink, routing_app: FastAPI) -> MailSettings:
    settings = MailSettings(
        smtp_host=peer.host,
        smtp_port=peer.port,
        retry_delays=(0.05,),
        redelivery_delays=(60.0,),
        from_address="obrashcheniya@gorod.example",
        reply_domain="gorod.example",
        inbound_host=HOST,
        inbound_port=free_port(),
        inbound_secret=SECRET,  # type: ignore[arg-type]
    )
    routing_app.state.mail_settings = settings
    return settings


@pytest.fixture
async def by_email(kit: ServiceContext) -> tuple[str, str]:
    """An authority that takes appeals by e-mail only, responsible for a category of its own in the town."""
    suffix = uuid.uuid4().hex[:10]
    address, code = f"blago-{suffix}@kolomna.example", f"test.email_{suffix}"
    authority = uuid.uuid4()
    async with kit.session_factory() as session, session.begin():
        await session.execute(
            authorities.insert().values(
                id=authority,
                kind="department",
                name="МКУ «Благоустройство Коломны»",
                territory_id=demo.territory_id(demo.TOWN),
                timezone="Europe/Moscow",
                channel="email",
                email=address,
            )
        )
        await session.execute(
            jurisdiction_rules.insert().values(
                id=uuid.uuid4(), territory_id=demo.territory_id(demo.TOWN), category_code=code, authority_id=authority
            )
        )
    return address, code


async def appeal_for(
    kit: ServiceContext, consumer: ConsumerRunner, publish: Publish, code: str, applicant: dict[str, Any] | None
) -> Any:
    event = published_event(category_code=code, applicant=applicant)
    await publish(event)
    found = await eventually(lambda: appeals_of_problem(kit, event.data["problem_id"]))
    return found[0]


async def delivery_of(kit: ServiceContext, appeal_id: uuid.UUID) -> Any:
    async with kit.session_factory() as session:
        return (await session.execute(select(deliveries).where(deliveries.c.appeal_id == appeal_id))).one()


@dataclass
class EmailChannel:
    """The e-mail channel's test set-up: the real service, the loopback SMTP peer standing for the authority's
    mail server, and an authority that takes e-mail (``address``) for a category of its own (``code``)."""

    kit: ServiceContext
    consumer: ConsumerRunner
    publish: Publish
    peer: SmtpSink
    mail: MailSettings
    address: str
    code: str

    async def appeal(self, applicant: dict[str, Any] | None = APPLICANT) -> Any:
        """A published problem in the category, and the appeal routing made of it (its e-mail still pending)."""
        return await appeal_for(self.kit, self.consumer, self.publish, self.code, applicant)

    async def dispatch(self, limit: int = 100) -> int:
        return await email_channel.dispatch_due(self.kit.session_factory, self.mail, limit=limit)

    async def sent(self, applicant: dict[str, Any] | None = APPLICANT) -> tuple[Any, EmailMessage]:
        """An appeal, sent: the appeal and the e-mail the authority's server received."""
        appeal = await self.appeal(applicant)
        await self.dispatch()
        return appeal, await self.peer.wait_for(to=self.address)

    async def delivery(self, appeal_id: uuid.UUID) -> Any:
        return await delivery_of(self.kit, appeal_id)


@pytest.fixture
def channel(
    kit: ServiceContext,
    consumer: ConsumerRunner,
    publish: Publish,
    peer: SmtpSink,
    mail: MailSettings,
    by_email: tuple[str, str],
) -> EmailChannel:
    return EmailChannel(kit, consumer, publish, peer, mail, *by_email)


def reply_to(message: EmailMessage, text_: str, *, attachment: bytes | None = None) -> EmailMessage:
    reply = EmailMessage()
    reply["From"] = message["To"]
    reply["To"] = message["Reply-To"]
    reply["Subject"] = "RE: " + message["Subject"]
    reply["In-Reply-To"] = message["Message-ID"]
    reply["Message-ID"] = f"<{uuid.uuid4()}@kolomna.example>"
    quoted = "\n".join("> " + line for line in SmtpSink.text(message).splitlines()[:5])
    reply.set_content(f'{text_}\n\n23.11.2026, 10:15, "Платформа «Город»" <obrashcheniya@gorod.example>:\n{quoted}\n')
    if attachment is not None:
        reply.add_attachment(attachment, maintype="application", subtype="pdf", filename="Ответ 15-2026.pdf")
    return reply


async def test_appeal_goes_by_e_mail_and_the_reply_becomes_the_answer(
    channel: EmailChannel, client: httpx.AsyncClient, gorod_stack: TestStack
) -> None:
    kit, peer, mail, address = channel.kit, channel.peer, channel.mail, channel.address
    appeal = await channel.appeal()
    pending = await channel.delivery(appeal.id)
    assert (pending.channel, pending.status) == ("email", "pending")

    assert await channel.dispatch() >= 1
    message = await peer.wait_for(to=address)
    body = SmtpSink.text(message)
    assert message["Reply-To"] == f"appeal+{appeal.reply_token}@gorod.example"
    assert peer.envelopes[-1][0] == message["Reply-To"]  # bounces come back to the appeal's address too
    assert message["Subject"].startswith("Обращение гражданина № ")
    for needed in (*APPLICANT.values(), "Глубокая яма у остановки", "Коломна, ул. Октябрьской Революции, 350"):
        assert needed in body
    assert "https://media.gorod.example/p/1.jpg" in body
    sent = await channel.delivery(appeal.id)
    assert (sent.status, sent.attempts, sent.external_id) == ("sent", 1, message["Message-ID"])
    assert await channel.dispatch() == 0 or len(peer.to(address)) == 1

    # The authority answers: through our SMTP receiver, with the history quoted and a PDF attached.
    async def handle(raw: bytes, mail_from: str | None, rcpt_tos: list[str]) -> None:
        await email_channel.receive(
            kit.session_factory, mail, raw, via="smtp", envelope_from=mail_from, envelope_to=rcpt_tos
        )

    server = await start_receiver(mail, handle)
    reply = reply_to(message, "Результат: решено\n" + ANSWER, attachment=b"%PDF-1.7 official answer")
    try:
        await aiosmtplib.send(reply, hostname=HOST, port=mail.inbound_port, timeout=10)
    finally:
        server.close()
        await server.wait_closed()

    async with kit.session_factory() as session:
        status = (await session.execute(select(appeals.c.status).where(appeals.c.id == appeal.id))).scalar_one()
        answer = (await session.execute(select(appeal_answers).where(appeal_answers.c.appeal_id == appeal.id))).one()
        files = (
            await session.execute(select(appeal_attachments).where(appeal_attachments.c.answer_id == answer.id))
        ).all()
        inbound = (await session.execute(select(mail_inbound).where(mail_inbound.c.appeal_id == appeal.id))).one()
    assert status == "answered"
    assert (answer.text, answer.outcome, answer.source) == (ANSWER, "solved", "email")
    assert [(f.filename, f.content_type, f.content) for f in files] == [
        ("Ответ 15-2026.pdf", "application/pdf", b"%PDF-1.7 official answer")
    ]
    assert (inbound.via, inbound.kind, inbound.outcome, inbound.answer_id) == ("smtp", "reply", "answered", answer.id)
    [answered] = await outbox(kit, "routing.appeal.answered.v1", appeal.id)  # validated against the contract
    assert answered["data"]["text"] == ANSWER
    assert answered["data"]["outcome"] == "solved"
    assert len(answered["data"]["attachments"]) == 1

    # A mail gateway delivering the same message again changes nothing.
    again = await client.post(
        "/admin/v1/routing/inbound-mail",
        content=reply.as_bytes(),
        headers={"X-Gorod-Mail-Secret": SECRET, "Content-Type": "message/rfc822"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["duplicate"] is True
    assert again.json()["answer_id"] == str(answer.id)

    # A second, different reply cannot answer twice: kept, and marked rejected.
    second = reply_to(message, "Дополнительно сообщаем: работы приняты.")
    late = await client.post(
        "/admin/v1/routing/inbound-mail",
        content=second.as_bytes(),
        headers={**gorod_stack.tokens.bearer("routing", subject=str(uuid.uuid4()), roles=["operator"])},
    )
    assert late.status_code == 200, late.text
    assert late.json()["outcome"] == "rejected"
    assert late.json()["appeal_id"] == str(appeal.id)
    assert len(await outbox(kit, "routing.appeal.answered.v1", appeal.id)) == 1


async def test_a_planned_answer_by_e_mail(channel: EmailChannel, client: httpx.AsyncClient) -> None:
    appeal, message = await channel.sent(applicant=None)  # anonymous: the platform's report
    assert message["Subject"].startswith("Сообщение о проблеме № ")
    reply = reply_to(message, "Ремонт покрытия запланирован: будет выполнен до 15 мая 2027 года.")
    response = await client.post(
        "/admin/v1/routing/inbound-mail", content=reply.as_bytes(), headers={"X-Gorod-Mail-Secret": SECRET}
    )
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "answered"
    [answered] = await outbox(channel.kit, "routing.appeal.answered.v1", appeal.id)
    assert (answered["data"]["outcome"], answered["data"]["planned_for"]) == ("planned", "2027-05-15")


def dsn(to: str, original_to: str) -> bytes:
    return f"""Return-Path: <>
From: MAILER-DAEMON@mx.kolomna.example (Mail Delivery System)
To: {to}
Subject: Undelivered Mail Returned to Sender
Message-ID: <{uuid.uuid4()}@mx.kolomna.example>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

The mail system: your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.kolomna.example

Final-Recipient: rfc822; {original_to}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B--
""".replace("\n", "\r\n").encode()


async def test_a_bounce_is_recorded_published_and_shown_to_operators(
    channel: EmailChannel, client: httpx.AsyncClient, gorod_stack: TestStack
) -> None:
    kit, address = channel.kit, channel.address
    appeal, message = await channel.sent()
    raw = dsn(message["Reply-To"], address)

    path = "/admin/v1/routing/inbound-mail"
    assert (await client.post(path, content=raw)).status_code == 401
    assert (await client.post(path, content=raw, headers={"X-Gorod-Mail-Secret": "wrong"})).status_code == 403
    citizen = gorod_stack.tokens.bearer("routing", subject=str(uuid.uuid4()), roles=["citizen"])
    assert (await client.post(path, content=raw, headers=citizen)).status_code == 403
    empty = await client.post(path, content=b"", headers={"X-Gorod-Mail-Secret": SECRET})
    assert empty.status_code == 422

    response = await client.post(path, content=raw, headers={"X-Gorod-Mail-Secret": SECRET}, params={"sender": ""})
    assert response.status_code == 200, response.text
    assert (response.json()["kind"], response.json()["outcome"]) == ("bounce", "bounce")
    assert (await channel.delivery(appeal.id)).status == "bounced"
    [failed] = await outbox(kit, "routing.appeal.delivery_failed.v1", appeal.id)  # validated against the contract
    assert failed["data"]["channel"] == "email"
    assert "5.1.1" in failed["data"]["error"]

    # Another mail server reporting the same failure: kept for operators, published once.
    again = await client.post(
        path,
        content=dsn(message["Reply-To"], address),  # a new Message-ID: another report
        headers={"X-Gorod-Mail-Secret": SECRET},
    )
    assert again.json()["outcome"] == "bounce"
    assert len(await outbox(kit, "routing.appeal.delivery_failed.v1", appeal.id)) == 1

    operator = gorod_stack.tokens.bearer("routing", subject=str(uuid.uuid4()), roles=["operator"])
    assert (await client.get("/admin/v1/routing/bounces")).status_code == 401
    assert (await client.get("/admin/v1/routing/bounces", headers=citizen)).status_code == 403
    listed = await client.get("/admin/v1/routing/bounces", headers=operator, params={"limit": 100})
    assert listed.status_code == 200, listed.text
    mine = [item for item in listed.json()["items"] if item["appeal_id"] == str(appeal.id)]
    assert len(mine) == 2
    assert (mine[0]["status"], mine[0]["recipient"], mine[0]["permanent"]) == ("5.1.1", address, True)
    bad_cursor = await client.get("/admin/v1/routing/bounces", headers=operator, params={"cursor": "bm90LWEtbGlzdA"})
    assert bad_cursor.status_code == 400


async def test_bounces_are_cursor_paginated(
    channel: EmailChannel, gorod_stack: TestStack, client: httpx.AsyncClient
) -> None:
    kit = channel.kit
    appeal_id = (await channel.appeal()).id
    await channel.dispatch()  # leave no pending mail to later tests
    async with kit.session_factory() as session, session.begin():
        for index in range(5):
            await session.execute(
                mail_bounces.insert().values(
                    id=uuid.uuid4(),
                    appeal_id=appeal_id,
                    permanent=True,
                    standard=False,
                    status=f"5.0.{index}",
                    received_at=datetime(2020, 1, 1, 0, index, tzinfo=UTC),
                )
            )
    operator = gorod_stack.tokens.bearer("routing", subject=str(uuid.uuid4()), roles=["operator"])
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/admin/v1/routing/bounces", headers=operator, params=params)).json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(seen) == len(set(seen))
    async with kit.session_factory() as session:
        total = (await session.execute(text("SELECT count(*) FROM routing.mail_bounces"))).scalar_one()
    assert len(seen) == total


async def test_transient_failures_are_retried_later_then_given_up(channel: EmailChannel) -> None:
    kit, peer, address = channel.kit, channel.peer, channel.address
    appeal = await channel.appeal()
    peer.fail_next(2)  # both in-process attempts refused with 451
    await channel.dispatch()
    later = await channel.delivery(appeal.id)
    assert (later.status, later.attempts) == ("pending", 1)
    assert later.last_error.startswith("451")
    assert later.next_attempt_at > datetime.now(UTC)
    assert peer.to(address) == []

    # Due again; the relay still refuses; the redelivery schedule (one retry) is spent: given up, published.
    async with kit.session_factory() as session, session.begin():
        await session.execute(
            deliveries.update()
            .where(deliveries.c.id == later.id)
            .values(next_attempt_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
    peer.fail_next(2)
    await channel.dispatch()
    final = await channel.delivery(appeal.id)
    assert (final.status, final.attempts) == ("failed", 2)
    [failed] = await outbox(kit, "routing.appeal.delivery_failed.v1", appeal.id)
    assert failed["data"]["error"].startswith("451")


async def test_a_permanent_refusal_fails_at_once(channel: EmailChannel) -> None:
    appeal = await channel.appeal()
    channel.peer.fail_next(1, "550 5.1.1 No such mailbox")
    await channel.dispatch()
    final = await channel.delivery(appeal.id)
    assert (final.status, final.attempts) == ("failed", 1)
    assert channel.peer.refused == 1
    assert len(await outbox(channel.kit, "routing.appeal.delivery_failed.v1", appeal.id)) == 1


async def test_concurrent_senders_send_each_appeal_once(channel: EmailChannel) -> None:
    created = [await channel.appeal() for _ in range(4)]
    await asyncio.gather(*(channel.dispatch(limit=2) for _ in range(4)))
    received = channel.peer.to(channel.address)
    assert len(received) == 4
    assert {m[APPEAL_ID_HEADER] for m in received} == {str(a.id) for a in created}
    for appeal in created:
        assert (await channel.delivery(appeal.id)).status == "sent"


async def test_unknown_token_is_kept_unmatched(client: httpx.AsyncClient, mail: MailSettings) -> None:
    stray = EmailMessage()
    stray["From"] = "someone@example.org"
    stray["To"] = "appeal+AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA@gorod.example"
    stray["Subject"] = "Вопрос"
    stray["Message-ID"] = f"<{uuid.uuid4()}@example.org>"
    stray.set_content("Здравствуйте!")
    response = await client.post(
        "/admin/v1/routing/inbound-mail", content=stray.as_bytes(), headers={"X-Gorod-Mail-Secret": SECRET}
    )
    assert response.status_code == 200
    assert (response.json()["outcome"], response.json()["appeal_id"]) == ("unmatched", None)


async def test_the_mail_process_sends_and_receives(channel: EmailChannel, routing_settings: RoutingSettings) -> None:
    """``python -m routing.mail``: the sending loop and the SMTP receiver, as one process runs them."""
    stop = asyncio.Event()
    task = asyncio.create_task(service.run(routing_settings, channel.mail, stop=stop, interval=0.2))
    try:
        appeal = await channel.appeal()
        message = await channel.peer.wait_for(to=channel.address, timeout=15)
        assert message[APPEAL_ID_HEADER] == str(appeal.id)
        await aiosmtplib.send(reply_to(message, ANSWER), hostname=HOST, port=channel.mail.inbound_port, timeout=10)
        [answered] = await eventually(lambda: outbox(channel.kit, "routing.appeal.answered.v1", appeal.id))
        assert answered["data"]["text"] == ANSWER
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_the_worker_fallback_job_sends_due_mail(
    kit: ServiceContext,
    consumer: ConsumerRunner,
    publish: Publish,
    peer: SmtpSink,
    by_email: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    address, code = by_email
    monkeypatch.setenv("ROUTING_MAIL_SMTP_HOST", peer.host)
    monkeypatch.setenv("ROUTING_MAIL_SMTP_PORT", str(peer.port))
    appeal = await appeal_for(kit, consumer, publish, code, None)
    [job] = email_channel.HOUSEKEEPING
    async with kit.session_factory() as session, session.begin():
        assert await job(session) >= 1
    message = await peer.wait_for(to=address)
    assert message[APPEAL_ID_HEADER] == str(appeal.id)
    assert (await delivery_of(kit, appeal.id)).status == "sent"


async def test_deadline_reminders_are_e_mailed_once(channel: EmailChannel) -> None:
    kit, peer, mail, address = channel.kit, channel.peer, channel.mail, channel.address
    appeal = await channel.appeal()
    due = datetime.now(UTC) + timedelta(days=3)
    async with kit.session_factory() as session, session.begin():
        await session.execute(
            appeal_deadline_marks.insert().values(appeal_id=appeal.id, kind="reminder_registration", due_at=due)
        )
    peer.fail_next(2)  # the relay is away: the mark stays for the next round
    assert await email_channel.send_reminders(kit.session_factory, mail) == 0
    assert await email_channel.send_reminders(kit.session_factory, mail) >= 1
    assert await email_channel.send_reminders(kit.session_factory, mail) == 0
    reminders = [m for m in peer.to(address) if m["Subject"].startswith("Напоминание")]
    assert len(reminders) == 1
    assert reminders[0]["Reply-To"] == f"appeal+{appeal.reply_token}@gorod.example"
    assert "зарегистрировать обращение" in SmtpSink.text(reminders[0])
    assert "Смирнова" not in SmtpSink.text(reminders[0])  # no personal data in a reminder
    async with kit.session_factory() as session:
        notified = (
            await session.execute(
                select(appeal_deadline_marks.c.notified_at).where(appeal_deadline_marks.c.appeal_id == appeal.id)
            )
        ).scalar_one()
    assert notified is not None
