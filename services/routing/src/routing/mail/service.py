"""The e-mail channel's process: ``python -m routing.mail``.

Sends the due appeal e-mails and the deadline reminders every ``interval`` seconds and runs the inbound SMTP
receiver, until SIGTERM/SIGINT.
Several copies may run: deliveries are claimed with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from routing.mail.receiver import start as start_receiver
from routing.mail.settings import MailSettings
from routing.settings import RoutingSettings
from routing.usecases import email_channel
from servicekit.db import create_engine, create_session_factory
from servicekit.logs import configure_logging

log = logging.getLogger(__name__)


async def run(
    settings: RoutingSettings,
    mail: MailSettings,
    *,
    stop: asyncio.Event | None = None,
    interval: float = 5.0,
    receiver: bool = True,
) -> None:
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings, pool_size=3)
    session_factory = create_session_factory(engine)

    async def handle(raw: bytes, mail_from: str | None, rcpt_tos: list[str]) -> None:
        await email_channel.receive(
            session_factory, mail, raw, via="smtp", envelope_from=mail_from, envelope_to=rcpt_tos
        )

    server = await start_receiver(mail, handle) if receiver else None
    try:
        while not stop.is_set():
            try:
                await email_channel.dispatch_all_due(session_factory, mail)
                await email_channel.send_reminders(session_factory, mail)
            except Exception as error:
                log.warning("sending appeal e-mails failed: %r", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        if server is not None:
            server.close()
            await server.wait_closed()
        await engine.dispose()


def main() -> None:
    settings = RoutingSettings()
    configure_logging(f"{settings.service_name}-mail", level=settings.log_level, json=settings.log_json)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    asyncio.run(run(settings, MailSettings()))
