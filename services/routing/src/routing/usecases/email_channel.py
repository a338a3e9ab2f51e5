"""The e-mail channel's use cases: send the appeals that wait for e-mail, and take in what comes back.

Sending (``dispatch_due``) is an outbox of its own: routing inserts a pending ``deliveries`` row with the appeal,
in the same transaction; here a claim transaction takes due rows (``FOR UPDATE SKIP LOCKED``, so several
senders never take the same row), moves their ``next_attempt_at`` a lease ahead and counts the attempt; the
SMTP conversation happens outside any transaction; a second transaction marks the row sent, or schedules the next
attempt (``MailSettings.redelivery_delays``), or gives up (a 5xx, or the last attempt): then routing publishes
``routing.appeal.delivery_failed.v1``. A sender that dies mid-way leaves the lease to expire: the row is tried
again (at-least-once; the Message-ID is stable per delivery so a duplicate is recognisable).

Receiving (``receive``): the message is parsed (``routing.mail.inbound``) and matched to its appeal by the reply
token; a reply becomes the authority's answer (``record_answer(source="email")``), a bounce is recorded for
operators and published as ``delivery_failed``; auto-replies and delay notices are kept but change nothing.
Each message is handled once (by its Message-ID, else the SHA-256 of its bytes), so a mail server's or webhook's
retry is harmless.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from routing.db.tables import SCHEMA, appeal_deadline_marks, appeals, authorities, deliveries, problems
from routing.domain.appeals import TransitionError
from routing.mail import compose, inbound, sender
from routing.mail.outcome import read_outcome
from routing.mail.reply_address import reply_address
from routing.mail.settings import MailSettings
from routing.mail.tables import mail_bounces, mail_inbound
from routing.usecases import appeals as appeal_cases
from routing.usecases import delivery as delivery_cases
from servicekit.http.pagination import Page, PageRequest, make_page
from servicekit.http.problems import ProblemError
from servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
"""How long a claimed delivery is left to its sender before another may take it."""


# ---------------------------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class _Claimed:
    delivery_id: uuid.UUID
    attempts: int
    letter: Any  # routing.usecases.delivery.AppealLetter


def letter_from(data: Any, *, number: str | None = None) -> compose.AppealLetter:
    """Routing's ``AppealLetter`` (what the appeal says) → the e-mail's."""
    applicant = None
    if data.applicant_name and data.applicant_email:
        applicant = compose.Applicant(
            full_name=data.applicant_name, email=data.applicant_email, postal_address=data.applicant_postal_address
        )
    return compose.AppealLetter(
        appeal_id=data.appeal_id,
        authority_name=data.authority_name,
        authority_email=data.authority_email,
        category_name=data.category_name,
        title=data.title,
        description=data.description,
        address=data.address,
        lon=float(data.lon),
        lat=float(data.lat),
        published_at=data.sent_at,
        applicant=applicant,
        photos=tuple(data.photos or ()),
        public_url=data.public_url,
        number=number,
        reason=data.reason,
        registration_due_at=data.registration_due_at,
        repeat_of=data.repeat_of,
        time_zone=getattr(data, "timezone", None) or "Europe/Moscow",
    )


def build_message(data: Any, settings: MailSettings, *, delivery_id: uuid.UUID, now: datetime) -> tuple[Any, str]:
    """The appeal e-mail of one delivery and its envelope sender (the appeal's reply address)."""
    address = reply_address(data.reply_token, local_part=settings.reply_local_part, domain=settings.domain)
    message = compose.compose(
        letter_from(data), from_address=settings.from_address, from_name=settings.from_name, reply_to=address, now=now
    )
    del message["Message-ID"]
    message["Message-ID"] = f"<appeal-{data.appeal_id}.{delivery_id}@{settings.domain}>"
    return message, address


async def _claim(session_factory: async_sessionmaker[AsyncSession], limit: int, now: datetime) -> list[_Claimed]:
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        rows = (
            await uow.session.execute(
                select(deliveries.c.id, deliveries.c.appeal_id, deliveries.c.attempts)
                .where(
                    deliveries.c.status == "pending",
                    deliveries.c.channel == "email",
                    deliveries.c.next_attempt_at <= now,
                )
                .order_by(deliveries.c.next_attempt_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        claimed: list[_Claimed] = []
        for row in rows:
            await uow.session.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id)
                .values(next_attempt_at=now + LEASE)  # a lease: mark_delivered/mark_failed count the attempt
            )
            letter = await delivery_cases.letter_for(uow.session, row.appeal_id)
            claimed.append(_Claimed(row.id, row.attempts + 1, letter))
        await uow.commit()
    return claimed


async def dispatch_due(
    session_factory: async_sessionmaker[AsyncSession],
    settings: MailSettings,
    *,
    limit: int = 20,
    now: datetime | None = None,
) -> int:
    """Send the due e-mail deliveries (up to ``limit``); returns how many were handed to the SMTP relay."""
    moment = now or datetime.now(UTC)
    sent = 0
    for claimed in await _claim(session_factory, limit, moment):
        if claimed.letter is None or not claimed.letter.authority_email:
            async with UnitOfWork(session_factory, SCHEMA) as uow:
                await delivery_cases.mark_failed(
                    uow, claimed.delivery_id, error="у органа власти не указан адрес электронной почты", retry_at=None
                )
                await uow.commit()
            continue
        message, envelope_from = build_message(
            claimed.letter, settings, delivery_id=claimed.delivery_id, now=datetime.now(UTC)
        )
        try:
            await sender.send(message, settings, envelope_from=envelope_from)
        except sender.SendError as error:
            delays = settings.redelivery_delays
            retry_at = None
            if not error.permanent and claimed.attempts <= len(delays):
                retry_at = datetime.now(UTC) + timedelta(seconds=delays[claimed.attempts - 1])
            async with UnitOfWork(session_factory, SCHEMA) as uow:
                await delivery_cases.mark_failed(uow, claimed.delivery_id, error=error.reason, retry_at=retry_at)
                await uow.commit()
            continue
        async with UnitOfWork(session_factory, SCHEMA) as uow:
            await delivery_cases.mark_delivered(uow, claimed.delivery_id, external_id=str(message["Message-ID"]))
            await uow.commit()
        sent += 1
    return sent


async def dispatch_all_due(
    session_factory: async_sessionmaker[AsyncSession], settings: MailSettings, *, batch: int = 20
) -> int:
    """Send batches until nothing is due."""
    total = 0
    while True:
        claimed_before = total
        total += await dispatch_due(session_factory, settings, limit=batch)
        if total - claimed_before < batch:
            return total


@dataclass(frozen=True)
class _ReminderRow:
    key: tuple[uuid.UUID, str, datetime]
    reminder: compose.Reminder
    reply_token: str


async def send_reminders(
    session_factory: async_sessionmaker[AsyncSession], settings: MailSettings, *, limit: int = 50
) -> int:
    """E-mail the reminders the deadline timer marked (``appeal_deadline_marks`` ``reminder_*``, not notified).

    At most once: a mark is claimed (``FOR UPDATE SKIP LOCKED``) and set notified in one short transaction, then
    the mail goes; if it cannot go, the mark is set back to unnotified for the next round. An authority with no
    e-mail address (cabinet only) sees its deadlines in the cabinet queue: its marks are set notified unsent."""
    now = datetime.now(UTC)
    marks = appeal_deadline_marks
    claimed: list[_ReminderRow] = []
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        rows = (
            await uow.session.execute(
                select(
                    marks.c.appeal_id,
                    marks.c.kind,
                    marks.c.due_at,
                    appeals.c.reply_token,
                    authorities.c.name.label("authority_name"),
                    authorities.c.email.label("authority_email"),
                    authorities.c.timezone,
                    problems.c.title,
                    problems.c.address,
                )
                .select_from(
                    marks.join(appeals, appeals.c.id == marks.c.appeal_id)
                    .join(authorities, authorities.c.id == appeals.c.authority_id)
                    .join(problems, problems.c.id == appeals.c.problem_id)
                )
                .where(marks.c.notified_at.is_(None), marks.c.kind.in_(("reminder_registration", "reminder_answer")))
                .order_by(marks.c.at)
                .limit(limit)
                .with_for_update(of=marks, skip_locked=True)
            )
        ).all()
        for row in rows:
            key = (row.appeal_id, row.kind, row.due_at)
            await uow.session.execute(update(marks).where(*_mark_is(key)).values(notified_at=now))
            if row.authority_email:
                reminder = compose.Reminder(
                    appeal_id=row.appeal_id,
                    kind=row.kind.removeprefix("reminder_"),
                    due_at=row.due_at,
                    authority_name=row.authority_name,
                    authority_email=row.authority_email,
                    title=row.title,
                    address=row.address,
                    time_zone=row.timezone or "Europe/Moscow",
                )
                claimed.append(_ReminderRow(key, reminder, row.reply_token))
        await uow.commit()
    sent = 0
    for item in claimed:
        address = reply_address(item.reply_token, local_part=settings.reply_local_part, domain=settings.domain)
        message = compose.compose_reminder(
            item.reminder, from_address=settings.from_address, from_name=settings.from_name, reply_to=address, now=now
        )
        try:
            await sender.send(message, settings, envelope_from=address)
            sent += 1
        except sender.SendError:
            async with UnitOfWork(session_factory, SCHEMA) as uow:
                await uow.session.execute(update(marks).where(*_mark_is(item.key)).values(notified_at=None))
                await uow.commit()
    return sent


def _mark_is(key: tuple[uuid.UUID, str, datetime]) -> list[Any]:
    marks = appeal_deadline_marks
    return [marks.c.appeal_id == key[0], marks.c.kind == key[1], marks.c.due_at == key[2]]


async def _send_due_emails(session: AsyncSession) -> int:
    """Housekeeping job (the worker's hourly fallback to ``python -m routing.mail``)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker as factory

    session_factory = factory(session.bind, expire_on_commit=False)
    settings = MailSettings()
    return await dispatch_all_due(session_factory, settings) + await send_reminders(session_factory, settings)


HOUSEKEEPING: list[Callable[[AsyncSession], Awaitable[int]]] = [_send_due_emails]


# -------------------------------------------------------------------------------------------- receiving


@dataclass(frozen=True)
class Received:
    inbound_id: uuid.UUID
    kind: str
    outcome: str
    appeal_id: uuid.UUID | None
    answer_id: uuid.UUID | None
    duplicate: bool = False
    detail: str | None = None


async def _appeal_for(session: AsyncSession, tokens: Sequence[str]) -> uuid.UUID | None:
    for token in tokens:
        appeal_id = await appeal_cases.appeal_id_by_reply_token(session, token)
        if appeal_id is not None:
            return uuid.UUID(str(appeal_id))
    return None


def identity(raw: bytes, message_id: str | None) -> bytes:
    """What makes two deliveries of a message the same message: its Message-ID, else its bytes (line ends aside)."""
    if message_id and message_id.strip():
        return hashlib.sha256(b"mid:" + message_id.strip().encode("utf-8", "replace")).digest()
    return hashlib.sha256(b"raw:" + raw.replace(b"\r\n", b"\n")).digest()


async def receive(
    session_factory: async_sessionmaker[AsyncSession],
    settings: MailSettings,
    raw: bytes,
    *,
    via: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
) -> Received:
    """Take in one raw RFC 822 message (from the SMTP receiver or the endpoint)."""
    parsed = inbound.parse(
        raw,
        local_part=settings.reply_local_part,
        domain=settings.domain,
        envelope_from=envelope_from,
        envelope_to=envelope_to,
        max_attachment_bytes=settings.max_attachment_bytes,
    )
    digest = identity(raw, parsed.message_id)
    inbound_id = uuid.uuid4()
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        session = uow.session
        claimed = (
            await session.execute(
                insert(mail_inbound)
                .values(
                    id=inbound_id,
                    digest=digest,
                    via=via,
                    kind=parsed.kind,
                    outcome="ignored",
                    message_id=(parsed.message_id or "")[:998] or None,
                    sender=parsed.sender[:320] or None,
                    subject=parsed.subject[:998] or None,
                    size=len(raw),
                )
                .on_conflict_do_nothing(index_elements=[mail_inbound.c.digest])
                .returning(mail_inbound.c.id)
            )
        ).first()
        if claimed is None:
            row = (await session.execute(select(mail_inbound).where(mail_inbound.c.digest == digest))).one()
            return Received(row.id, row.kind, row.outcome, row.appeal_id, row.answer_id, duplicate=True)
        appeal_id = await _appeal_for(session, parsed.tokens)
        answer_id: uuid.UUID | None = None
        detail: str | None = None
        if appeal_id is None:
            outcome = "unmatched"
            detail = "адрес получателя не соответствует ни одному обращению"
        elif parsed.kind == "reply":
            outcome, answer_id, detail = await _record_reply(uow, appeal_id, parsed)
        elif parsed.kind == "bounce" and parsed.bounce is not None:
            outcome = "bounce"
            detail = parsed.bounce.describe()
            await session.execute(
                insert(mail_bounces).values(
                    id=uuid.uuid4(),
                    appeal_id=appeal_id,
                    inbound_id=inbound_id,
                    permanent=parsed.bounce.permanent,
                    standard=parsed.bounce.standard,
                    status=parsed.bounce.status,
                    recipient=(parsed.bounce.recipient or "")[:320] or None,
                    diagnostic=(parsed.bounce.diagnostic or "")[:1000] or None,
                )
            )
            sent = await session.execute(
                select(deliveries.c.id).where(
                    deliveries.c.appeal_id == appeal_id, deliveries.c.channel == "email", deliveries.c.status == "sent"
                )
            )
            if sent.first() is not None:  # a second report of the same failure publishes nothing more
                await delivery_cases.record_bounce(uow, appeal_id, error=detail)
        elif parsed.kind == "delay":
            outcome = "delay"
            detail = parsed.bounce.describe() if parsed.bounce else None
        else:
            outcome = "ignored"
            detail = {"auto_reply": "автоответ", "delivery_report": "отчёт о доставке"}.get(parsed.kind)
        await session.execute(
            update(mail_inbound)
            .where(mail_inbound.c.id == inbound_id)
            .values(outcome=outcome, appeal_id=appeal_id, answer_id=answer_id, detail=detail)
        )
        await uow.commit()
    log.info("inbound mail %s: kind=%s outcome=%s", inbound_id, parsed.kind, outcome)
    return Received(inbound_id, parsed.kind, outcome, appeal_id, answer_id, detail=detail)


async def _record_reply(
    uow: UnitOfWork, appeal_id: uuid.UUID, parsed: inbound.InboundMail
) -> tuple[str, uuid.UUID | None, str | None]:
    read = read_outcome(parsed.text)
    if not read.text and not parsed.attachments:
        return "rejected", None, "в ответе нет текста"
    attachments = [
        appeal_cases.NewAttachment(filename=a.filename, content_type=a.content_type, content=a.data)
        for a in parsed.attachments
    ]
    try:
        async with uow.session.begin_nested():
            answer_id = await appeal_cases.record_answer(
                uow,
                appeal_id,
                text=read.text or "Ответ во вложении.",
                outcome=read.outcome,
                planned_for=read.planned_for,
                refusal_reason=read.refusal_reason,
                attachments=attachments,
                source="email",
                answered_by=None,
                author_user_id=None,
            )
    except TransitionError as error:  # the appeal cannot take an answer now (already answered, forwarded…)
        return "rejected", None, error.detail[:500]
    detail = None
    if parsed.skipped_attachments:
        detail = "слишком большие вложения не приняты: " + ", ".join(parsed.skipped_attachments)[:400]
    return "answered", uuid.UUID(str(answer_id)), detail


# ---------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class BounceView:
    id: uuid.UUID
    appeal_id: uuid.UUID
    received_at: datetime
    permanent: bool
    standard: bool
    status: str | None
    recipient: str | None
    diagnostic: str | None


async def list_bounces(session: AsyncSession, page: PageRequest) -> Page[BounceView]:
    """Newest first, keyset-paginated on ``(received_at, id)``."""
    query = select(mail_bounces).order_by(mail_bounces.c.received_at.desc(), mail_bounces.c.id.desc())
    if page.after:
        try:
            after_at = datetime.fromisoformat(str(page.after[0]))
            after_id = uuid.UUID(str(page.after[-1]))
        except ValueError as error:
            raise ProblemError(400, "Неверный курсор страницы: запросите список с начала.") from error
        query = query.where(
            (mail_bounces.c.received_at < after_at)
            | and_(mail_bounces.c.received_at == after_at, mail_bounces.c.id < after_id)
        )
    rows = (await session.execute(query.limit(page.limit + 1))).all()
    views = [
        BounceView(
            id=r.id,
            appeal_id=r.appeal_id,
            received_at=r.received_at,
            permanent=r.permanent,
            standard=r.standard,
            status=r.status,
            recipient=r.recipient,
            diagnostic=r.diagnostic,
        )
        for r in rows
    ]
    return make_page(views, page, lambda v: [v.received_at.isoformat(), str(v.id)])
