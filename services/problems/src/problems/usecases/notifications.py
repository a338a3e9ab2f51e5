"""E-mail to subscribers: what changed, to whom, and the sender that delivers it exactly once at most.

1. The problems service's own events (``problems.problem.status_changed.v1`` and ``…published.v1``) arrive on
   queue ``problems.notify-subscribers``. The handler finds the subscriptions they concern (followers of the
   problem; areas whose circle holds its point; territories that cover it) and queues one mail per user and
   event in ``notifications`` (unique on (event, user)); the kit's inbox makes a redelivered event a no-op.
2. :func:`run_sender` (in the worker) claims due mails (``FOR UPDATE SKIP LOCKED``), marks them ``sending`` and
   commits *before* talking to SMTP, then marks each ``sent``. A transient failure (no connection, 4xx) puts the
   mail back as ``pending`` with a back-off; a permanent one (5xx) or too many attempts marks it ``failed``.
   A crash between the SMTP hand-over and the ``sent`` mark leaves the mail ``sending`` and it is never tried
   again: a subscriber may miss a mail in that rare case, but never gets one twice.

Every mail carries a one-click unsubscribe link (RFC 8058 ``List-Unsubscribe`` and ``List-Unsubscribe-Post``).
E-mail addresses are personal data: nothing here logs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiosmtplib
from pydantic import BaseModel, ConfigDict
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from problems.db import subscription_tables as db
from problems.domain.statuses import HIDDEN_STATUSES, STATUS_NAMES
from problems.settings import ProblemsSettings
from problems.usecases.common import public_url
from servicekit.consumer import Subscription
from servicekit.db import create_engine, create_session_factory
from servicekit.events import CloudEvent
from servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BATCH = 50
SENDING_STALE_AFTER = timedelta(hours=1)


class _Point(BaseModel):
    model_config = ConfigDict(extra="ignore")
    lon: float
    lat: float


class StatusChanged(BaseModel):
    model_config = ConfigDict(extra="ignore")
    problem_id: uuid.UUID
    point: _Point
    from_status: str
    to_status: str
    changed_at: datetime
    text: str | None = None
    reason: str | None = None


class Published(BaseModel):
    model_config = ConfigDict(extra="ignore")
    problem_id: uuid.UUID
    point: _Point
    title: str
    address: str
    category_name: str


def _unsubscribe_url(settings: ProblemsSettings, token: str) -> str:
    return f"{settings.public_base_url.rstrip('/')}/api/v1/problems/subscriptions/unsubscribe?token={token}"


async def _queue(
    session: AsyncSession,
    event: CloudEvent,
    problem_id: uuid.UUID,
    recipients: list[dict[str, Any]],
    subject: str,
    body: str,
) -> int:
    """One mail per user (a user following both the problem and its area gets one)."""
    chosen: dict[uuid.UUID, dict[str, Any]] = {}
    for row in sorted(recipients, key=lambda r: (r["kind"] != "problem", r["created_at"])):
        chosen.setdefault(row["user_id"], row)
    if not chosen:
        return 0
    return await db.queue_mail(
        session,
        [
            {
                "subscription_id": row["id"],
                "user_id": user_id,
                "event_id": event.id,
                "problem_id": problem_id,
                "subject": subject,
                "body": body,
            }
            for user_id, row in chosen.items()
        ],
    )


async def on_status_changed(event: CloudEvent, uow: UnitOfWork) -> None:
    data = StatusChanged.model_validate(event.data)
    if data.from_status == "moderation" and data.to_status == "published":
        return  # the problem has just appeared: problem.published.v1 tells the areas about it
    problem = await db.problem_brief(uow.session, data.problem_id)
    if problem is None:
        return
    recipients = await db.subscribers_of_change(uow.session, data.problem_id, data.point.lon, data.point.lat)
    if problem.private or data.to_status in HIDDEN_STATUSES:
        recipients = [r for r in recipients if r["kind"] == "problem"]  # no news to areas of what they cannot see
    status_name = STATUS_NAMES.get(data.to_status, data.to_status)
    lines = [
        f"Статус проблемы «{problem.title}» изменился: {status_name}.",
        f"Адрес: {problem.address}" if problem.address else "",
    ]
    if data.text:
        lines.append(data.text)
    if data.reason:
        lines.append(f"Причина: {data.reason}")
    if data.to_status == "answered":
        answer = await db.latest_answer(uow.session, data.problem_id)
        if answer is not None:
            lines += ["", f"Ответ ({answer.authority_name or 'орган власти'}):", answer.text]
    subject = f"{status_name}: {problem.title}"
    await _queue(uow.session, event, data.problem_id, recipients, subject, "\n".join(line for line in lines if line))


async def on_published(event: CloudEvent, uow: UnitOfWork) -> None:
    data = Published.model_validate(event.data)
    problem = await db.problem_brief(uow.session, data.problem_id)
    if problem is None or problem.private:
        return
    recipients = await db.subscribers_of_change(uow.session, data.problem_id, data.point.lon, data.point.lat)
    recipients = [r for r in recipients if r["kind"] != "problem"]
    lines = [
        f"Рядом с вами отмечена новая проблема: «{data.title}» ({data.category_name}).",
        f"Адрес: {data.address}" if data.address else "",
    ]
    subject = f"Новая проблема: {data.title}"
    await _queue(uow.session, event, data.problem_id, recipients, subject, "\n".join(line for line in lines if line))


async def on_user_erased(event: CloudEvent, uow: UnitOfWork) -> None:
    """152-FZ: the user's subscriptions (and the e-mail they hold) and queued mail are deleted."""
    user_id = uuid.UUID(str(event.data["user_id"]))
    await db.delete_user_subscriptions(uow.session, user_id)


async def on_problem_event(event: CloudEvent, uow: UnitOfWork) -> None:
    if event.routing_key == "problems.problem.published.v1":
        await on_published(event, uow)
    else:
        await on_status_changed(event, uow)


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        "problems.notify-subscribers",
        ("problems.problem.status_changed.v1", "problems.problem.published.v1"),
        on_problem_event,
    ),
    Subscription("problems.subscriptions-erase", ("auth.user.erased.v1",), on_user_erased),
]


# --- Sending ---------------------------------------------------------------------------------------------------


def build_message(
    settings: ProblemsSettings, *, to: str, subject: str, body: str, problem_id: uuid.UUID, token: str
) -> EmailMessage:
    unsubscribe = _unsubscribe_url(settings, token)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(usegmt=True)
    domain = settings.mail_from.rsplit("@", 1)[-1].strip(" >") or "gorod.local"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(
        f"{body}\n\nПодробности: {public_url(settings, problem_id)}\n\n"
        f"Вы получили это письмо, потому что подписались на новости о проблемах на портале «Город».\n"
        f"Отписаться одним нажатием: {unsubscribe}\n"
    )
    return message


def _transient(error: Exception) -> bool:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    return isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError)


async def send_pending(settings: ProblemsSettings, session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Send the mail that is due, in batches, until none is; returns how many were handed to SMTP."""
    sent = 0
    while True:
        async with session_factory() as session, session.begin():
            batch = await db.claim_due_mail(session, BATCH)
        if not batch:
            return sent
        for mail in batch:
            message = build_message(
                settings,
                to=mail.email,
                subject=mail.subject,
                body=mail.body,
                problem_id=mail.problem_id,
                token=mail.token,
            )
            try:
                await aiosmtplib.send(
                    message,
                    hostname=settings.smtp_host,
                    port=settings.smtp_port,
                    username=settings.smtp_username,
                    password=settings.smtp_password,
                    start_tls=settings.smtp_starttls,
                    timeout=settings.smtp_timeout,
                )
            except Exception as error:
                retry = _transient(error) and mail.attempts < MAX_ATTEMPTS
                log.warning("notification %s not sent (attempt %d): %s", mail.id, mail.attempts, type(error).__name__)
                async with session_factory() as session, session.begin():
                    await db.mark_mail(
                        session,
                        mail.id,
                        state="pending" if retry else "failed",
                        next_attempt_at=datetime.now(UTC) + timedelta(seconds=min(600, 5 * 4 ** (mail.attempts - 1))),
                        last_error=f"{type(error).__name__}: {str(error)[:300]}",
                    )
                continue
            async with session_factory() as session, session.begin():
                await db.mark_mail(session, mail.id, state="sent", sent_at=datetime.now(UTC))
            sent += 1


async def fail_stale_sending(session: AsyncSession) -> int:
    """Housekeeping: a mail left ``sending`` by a crash is marked ``failed`` (never re-sent: at most once)."""
    return await db.fail_stale_sending(session, SENDING_STALE_AFTER)


async def run_sender(settings: ProblemsSettings, stop: asyncio.Event) -> None:
    """The worker's e-mail loop: a pass every ``notify_interval`` seconds until ``stop`` is set."""
    engine = create_engine(settings, pool_size=2)
    session_factory = create_session_factory(engine)
    try:
        while not stop.is_set():
            try:
                await send_pending(settings, session_factory)
            except Exception as error:  # the database away for a moment: try again next pass
                log.warning("e-mail sender pass failed: %r", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.notify_interval)
    finally:
        await engine.dispose()
