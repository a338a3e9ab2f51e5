"""Sending over SMTP with aiosmtplib, with retries.

Transient failures (no connection, a timeout, a dropped connection, a 4xx answer) are retried after the pauses
in ``MailSettings.retry_delays``; a permanent refusal (5xx) is not. The envelope sender is the appeal's reply
address, so a bounce comes back to an address that names the appeal (VERP). Addresses are never logged.
"""

from __future__ import annotations

import asyncio
import logging
from email.message import EmailMessage

import aiosmtplib

from routing.mail.settings import MailSettings

log = logging.getLogger(__name__)


class SendError(Exception):
    """Every attempt failed. ``permanent``: the server refused for good (5xx), trying again will not help."""

    def __init__(self, reason: str, *, permanent: bool, attempts: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.attempts = attempts


def is_transient(error: BaseException) -> bool:
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return all(400 <= r.code < 500 for r in error.recipients)
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return 400 <= error.code < 500
    return isinstance(error, aiosmtplib.SMTPException | OSError | TimeoutError)


def describe(error: BaseException) -> str:
    """A short reason for operators, without addresses."""
    if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(f"{r.code} {r.message}" for r in error.recipients)[:500]
    if isinstance(error, aiosmtplib.SMTPResponseException):
        return f"{error.code} {error.message}"[:500]
    return type(error).__name__


async def send(message: EmailMessage, settings: MailSettings, *, envelope_from: str | None = None) -> str:
    """Hand ``message`` to the SMTP relay; returns the server's answer. Raises :class:`SendError`."""
    attempts = len(settings.retry_delays) + 1
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    for attempt in range(1, attempts + 1):
        try:
            _refused, answer = await aiosmtplib.send(
                message,
                sender=envelope_from,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=password,
                start_tls=settings.smtp_starttls,
                timeout=settings.smtp_timeout,
            )
            return answer
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            transient = is_transient(error)
            if not transient or attempt == attempts:
                log.warning("appeal e-mail not sent after %d attempt(s): %s", attempt, describe(error))
                raise SendError(describe(error), permanent=not transient, attempts=attempt) from error
            log.info("appeal e-mail attempt %d failed (%s), retrying", attempt, describe(error))
            await asyncio.sleep(settings.retry_delays[attempt - 1])
    raise AssertionError("unreachable")
