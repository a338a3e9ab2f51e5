"""A real SMTP server on loopback (aiosmtpd ``Controller``) standing in for an authority's mail server.

    async with smtp_peer() as peer:
        mail = settings.model_copy(update={"smtp_host": peer.host, "smtp_port": peer.port})
        ...
        message = await peer.wait_for(to="uprava@kolomna.example")

``peer.fail_next(2)`` refuses the next two messages with a transient ``451``; ``fail_next(1, "550 …")`` for good.
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


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class SmtpPeer:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.messages: list[EmailMessage] = []
        self.raw: list[bytes] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        """``(MAIL FROM, [RCPT TO…])`` of each accepted message."""
        self.refused = 0
        self._failures: list[str] = []
        self._lock = threading.Lock()

    def fail_next(self, count: int = 1, reply: str = "451 4.3.0 Try again later") -> None:
        with self._lock:
            self._failures.extend([reply] * count)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self._lock:
            if self._failures:
                self.refused += 1
                return self._failures.pop(0)
            content = envelope.original_content or envelope.content
            raw = content if isinstance(content, bytes) else content.encode()
            message = email.message_from_bytes(raw, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.raw.append(raw)
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 2.0.0 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if address.lower() in str(m.get("To", "")).lower()]

    async def wait_for(self, *, to: str, count: int = 1, timeout: float = 10.0) -> EmailMessage:
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
        body = message.get_body(preferencelist=("plain",))
        assert body is not None, "no text/plain part"
        content: str = body.get_content()
        return content.replace("\r\n", "\n")


@asynccontextmanager
async def smtp_peer(host: str = HOST, port: int | None = None) -> AsyncIterator[SmtpPeer]:
    peer = SmtpPeer(host, port or free_port(host))
    controller = Controller(peer, hostname=host, port=peer.port, enable_SMTPUTF8=True, ready_timeout=10)
    await asyncio.to_thread(controller.start)
    try:
        yield peer
    finally:
        await asyncio.to_thread(controller.stop)
