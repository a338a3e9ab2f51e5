"""A real SMTP server on loopback for the services' tests (aiosmtpd), collecting every message it accepts.

Services that send mail (auth's confirmations, problems' notifications, routing's appeals) are tested against
it, never by patching their sender:

    async with smtp_server() as smtp:
        settings = settings.model_copy(update={"smtp_host": smtp.host, "smtp_port": smtp.port})
        ...
        message = await smtp.wait_for(to="someone@example.org")
        link = smtp.link(message, "/confirm-email")

or, in a test module: ``from servicekit.testing.smtp import smtp_sink`` (a pytest fixture yielding the same
object). ``smtp.fail_next(2)`` makes the next two deliveries fail with a transient ``451`` (to test retries).
Needs ``aiosmtpd`` (a dev dependency of the workspace).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpSink:
    """What the server received: ``messages`` (parsed, in arrival order), and the recipients of each."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        """Each accepted message as it came over the wire, in the same order as ``messages``."""
        self.envelopes: list[tuple[str, list[str]]] = []
        """``(MAIL FROM, RCPT TO…)`` of each accepted message, in the same order as ``messages``."""
        self.refused = 0
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def fail_next(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        """Refuse the next ``count`` deliveries with ``reply`` (a 4xx is transient, a 5xx permanent)."""
        with self._lock:
            self._failures.extend([reply] * count)

    # Called by aiosmtpd (in its own thread) for each message.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._failures:
                self.refused += 1
                return self._failures.pop(0)
            content = envelope.original_content or envelope.content
            raw = content if isinstance(content, bytes) else content.encode()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
            self.raw.append(raw)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Message accepted for delivery"

    @property
    def recipients(self) -> list[list[str]]:
        """The envelope recipients (RCPT TO) of each accepted message."""
        with self._lock:
            return [list(rcpt) for _, rcpt in self.envelopes]

    def to(self, address: str) -> list[EmailMessage]:
        """The messages sent to ``address`` (case-insensitive), by their ``To`` header or their envelope."""
        wanted = address.lower()
        with self._lock:
            return [
                message
                for message, (_, rcpt) in zip(self.messages, self.envelopes, strict=True)
                if wanted in str(message.get("To", "")).lower() or wanted in (r.lower() for r in rcpt)
            ]

    async def wait_for(self, *, to: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
        """The ``count``-th message to ``to`` (waiting for it to arrive); the latest one by default."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            received = self.to(to)
            if len(received) >= count:
                return received[count - 1]
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no message #{count} to {to} within {timeout}s (got {len(received)})")
            await asyncio.sleep(0.02)

    @staticmethod
    def text(message: EmailMessage) -> str:
        """The text/plain body, with the wire's CRLF line ends turned back into ``\n``."""
        body = message.get_body(preferencelist=("plain",))
        assert body is not None, "no text/plain part"
        content: str = body.get_content()
        return content.replace("\r\n", "\n")

    @classmethod
    def link(cls, message: EmailMessage, path: str) -> str:
        """The first URL in the message's text whose path is ``path`` (e.g. ``/confirm-email``)."""
        for url in re.findall(r"https?://\S+", cls.text(message)):
            if re.match(r"https?://[^/]+" + re.escape(path) + r"(?:[?#]|$)", url):
                return str(url)
        raise AssertionError(f"no {path} link in the message")


@asynccontextmanager
async def smtp_server(host: str = HOST, port: int | None = None) -> AsyncIterator[SmtpSink]:
    """Run an SMTP server on ``host`` (a free port unless given) for the duration of the block."""
    sink = SmtpSink(host, port or free_port(host))
    controller = Controller(sink, hostname=host, port=sink.port, enable_SMTPUTF8=True, ready_timeout=10)
    await asyncio.to_thread(controller.start)
    try:
        yield sink
    finally:
        await asyncio.to_thread(controller.stop)


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    """A fresh loopback SMTP server for one test (import this fixture into a test module to use it)."""
    async with smtp_server() as sink:
        yield sink
