"""A real SMTP server on loopback for the problems service's tests (aiosmtpd), keeping what it accepts.

    async with smtp_server() as smtp:
        ...send...
        message = await smtp.wait_for(to="someone@example.org")

``smtp.fail_next(n, "451 ...")`` refuses the next ``n`` messages (a 4xx reply is transient, a 5xx permanent).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class Mailbox:
    """The aiosmtpd handler: parsed messages in arrival order, with their envelope recipients."""

    def __init__(self, port: int) -> None:
        self.host = HOST
        self.port = port
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._refuse: list[str] = []
        self._lock = threading.Lock()

    def fail_next(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        with self._lock:
            self._refuse.extend([reply] * count)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._refuse:
                return self._refuse.pop(0)
            raw = envelope.original_content or envelope.content
            message = email.message_from_bytes(
                raw if isinstance(raw, bytes) else raw.encode(), policy=email.policy.default
            )
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m, rcpt in zip(self.messages, self.recipients, strict=True) if address in rcpt]

    async def wait_for(self, *, to: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            received = self.to(to)
            if len(received) >= count:
                return received[count - 1]
            if loop.time() > deadline:
                raise AssertionError(f"no message #{count} to {to} within {timeout}s (got {len(received)})")
            await asyncio.sleep(0.02)

    @staticmethod
    def text(message: EmailMessage) -> str:
        body = message.get_body(preferencelist=("plain",))
        assert body is not None, "no text/plain part"
        content: str = body.get_content()
        return content.replace("\r\n", "\n")


@asynccontextmanager
async def smtp_server() -> AsyncIterator[Mailbox]:
    box = Mailbox(_free_port())
    controller = Controller(box, hostname=HOST, port=box.port, enable_SMTPUTF8=True, ready_timeout=10)
    await asyncio.to_thread(controller.start)
    try:
        yield box
    finally:
        await asyncio.to_thread(controller.stop)
