"""Sending e-mail (confirmation links, password resets) over SMTP with aiosmtplib.

Callers send only after their transaction has committed: a mail that cannot be sent never loses an
account, and the person can ask for the link again. Transient failures (no connection, a timeout, a 4xx
answer) are retried a few times with a short back-off; a permanent refusal (5xx) is not.
Addresses are personal data: nothing here logs them.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from auth.settings import AuthSettings

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.2, 1.0)
"""Pauses before the second and third attempts."""


class MailError(Exception):
    """The message could not be handed to the SMTP server."""


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str


def build_message(settings: AuthSettings, to: str, subject: str, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = settings.mail_from.rsplit("@", 1)[-1].strip(" >") or "gorod.local"
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)  # UTF-8; quoted-printable or base64 as the text needs
    return message


def _transient(error: Exception) -> bool:
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    return isinstance(
        error,
        aiosmtplib.SMTPConnectError
        | aiosmtplib.SMTPServerDisconnected
        | aiosmtplib.SMTPTimeoutError
        | TimeoutError
        | ConnectionError
        | OSError,
    )


async def send_mail(settings: AuthSettings, to: str, subject: str, text: str) -> None:
    """Send one plain-text message; raises :class:`MailError` when every attempt failed."""
    message = build_message(settings, to, subject, text)
    attempts = len(RETRY_DELAYS) + 1
    for attempt in range(1, attempts + 1):
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
            return
        except (aiosmtplib.SMTPException, OSError) as error:
            if not _transient(error) or attempt == attempts:
                log.warning("mail not sent after %d attempt(s): %s", attempt, type(error).__name__)
                raise MailError(type(error).__name__) from error
            log.info("mail attempt %d failed (%s), retrying", attempt, type(error).__name__)
            await asyncio.sleep(RETRY_DELAYS[attempt - 1])


async def send_all(settings: AuthSettings, mails: list[Mail]) -> bool:
    """Send each mail, after the caller's commit; True if all went. A failure is logged (without the
    address) and swallowed: the person can ask for the link again."""
    ok = True
    for mail in mails:
        try:
            await send_mail(settings, mail.to, mail.subject, mail.text)
        except MailError:
            ok = False
    return ok
