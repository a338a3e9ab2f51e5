"""The inbound SMTP receiver (aiosmtpd), for the replies and bounces that come back to the reply addresses.

It runs in the caller's event loop (``asyncio`` server with aiosmtpd's ``SMTP`` protocol), so the handler can use
the service's database pool. Only our reply addresses are accepted as recipients (``550`` for anything else: it is
not an open relay); a message larger than ``max_message_bytes`` is refused by aiosmtpd. If handling fails the
sender is told to try later (``451``), so nothing is lost; the handler is idempotent by Message-ID.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from routing.mail.reply_address import token_from_address
from routing.mail.settings import MailSettings

log = logging.getLogger(__name__)

InboundHandler = Callable[[bytes, str | None, list[str]], Awaitable[None]]
"""``(raw message, envelope sender, envelope recipients)``."""


class _Handler:
    def __init__(self, settings: MailSettings, handle: InboundHandler) -> None:
        self._settings = settings
        self._handle = handle

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        token = token_from_address(address, local_part=self._settings.reply_local_part, domain=self._settings.domain)
        if token is None:
            return "550 5.1.1 No such recipient here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode("utf-8")
        try:
            await self._handle(raw, envelope.mail_from, list(envelope.rcpt_tos))
        except Exception as error:
            log.warning("inbound message not stored, asking the sender to retry: %r", type(error).__name__)
            return "451 4.3.0 Temporary failure, try again later"
        return "250 2.0.0 Accepted"


def protocol_factory(settings: MailSettings, handle: InboundHandler) -> Callable[[], SMTP]:
    def make() -> SMTP:
        return SMTP(
            _Handler(settings, handle),
            data_size_limit=settings.max_message_bytes,
            enable_SMTPUTF8=True,
            decode_data=False,
            hostname=settings.domain,
            ident="Gorod routing",
        )

    return make


async def start(settings: MailSettings, handle: InboundHandler, *, port: int | None = None) -> asyncio.Server:
    """Listen on ``inbound_host:inbound_port`` (or ``port``); close the returned server to stop."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        protocol_factory(settings, handle),
        host=settings.inbound_host,
        port=settings.inbound_port if port is None else port,
    )
    log.info("inbound SMTP receiver listening")
    return server
