"""A lean HTTP/1.1 client for the proxy's hot path: keep-alive connections to the services, httptools' parser.

Why not aiohttp (or httpx): per proxied request their client side cost more CPU than the upstream service spent
answering (cookie jars, redirects, tracing hooks, URL objects, header multidicts, two timers), and the gateway
could not keep half of the direct throughput. A reverse proxy needs little of that: write the request head
(and stream the body), parse the answer, pass its bytes on, put the connection back.

What it does keep: a connection limit; a connect timeout and a read timeout (no byte from the upstream for
``read_timeout`` seconds); streamed bodies both ways with back-pressure; interim 1xx answers skipped; answers
delimited by the connection's end; a reused keep-alive connection that the service closed meanwhile is retried
once on a new one, for a request without a body whose method is idempotent (nothing can have been done twice).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import cast
from urllib.parse import urlsplit

import httptools

RETRYABLE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
READ_HIGH_WATER = 256 * 1024
"""Bytes of an answer held for a slow client before the upstream connection stops being read."""


class UpstreamError(Exception):
    """The upstream exchange failed."""


class UpstreamUnavailable(UpstreamError):
    """The service did not accept the connection."""


class UpstreamTimeout(UpstreamError):
    """No connection, or no byte of the answer, in time."""


class UpstreamBroken(UpstreamError):
    """The service closed the connection early or answered something that is not HTTP/1.1."""


@dataclass(frozen=True)
class Origin:
    """Where a service answers, parsed once: ``http://problems:8002``."""

    host: str
    port: int
    host_header: bytes
    path_prefix: bytes
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Origin:
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        tls = parts.scheme == "https"
        port = parts.port or (443 if tls else 80)
        return cls(
            host=parts.hostname,
            port=port,
            host_header=parts.netloc.rpartition("@")[2].encode("idna"),
            path_prefix=parts.path.rstrip("/").encode(),
            tls=tls,
        )


class _Connection(asyncio.Protocol):
    """One keep-alive connection; carries one exchange at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.active = False
        self.idle_since = 0.0
        self._write_paused = False
        self._drain: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: deque[bytes] = deque()
        self._buffered = 0
        self._reading_paused = False
        self.headers_done = False
        self.complete = False
        self.keep_alive = False
        self.error: UpstreamError | None = None
        self.received = False
        self._head_request = False
        self._until_close = False
        self._read_timeout = 0.0
        self._last_activity = 0.0
        self._head_waiter: asyncio.Future[None] | None = None
        self._body_waiter: asyncio.Future[None] | None = None

    # The exchange.

    def begin(self, head_request: bool, read_timeout: float) -> None:
        self.active = True
        self.status = 0
        self.headers = []
        self.chunks.clear()
        self._buffered = 0
        self.headers_done = self.complete = self.keep_alive = self.received = False
        self.error = None
        self._head_request = head_request
        self._until_close = False
        self._read_timeout = read_timeout
        self._last_activity = self.loop.time()
        self._head_waiter = self.loop.create_future()
        self._body_waiter = None
        self._timer = self.loop.call_later(read_timeout, self._check_timeout)

    def end(self) -> bool:
        """Stop the exchange; whether the connection can carry another."""
        self.active = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._reading_paused and self.transport is not None and not self.closed:
            self._reading_paused = False
            self.transport.resume_reading()
        head = self._head_waiter
        if head is not None and head.done() and not head.cancelled():
            head.exception()  # seen: asyncio would log one that nobody awaited
        return self.complete and self.keep_alive and self.error is None and not self.closed and not self.chunks

    def write(self, data: bytes) -> None:
        self._last_activity = self.loop.time()
        assert self.transport is not None
        self.transport.write(data)

    async def drain(self) -> None:
        if self._write_paused and not self.closed:
            self._drain = self.loop.create_future()
            await self._drain

    async def wait_head(self) -> None:
        if not self.headers_done:
            assert self._head_waiter is not None
            await self._head_waiter

    async def body(self) -> AsyncIterator[bytes]:
        """The answer's body as it arrives; several buffered pieces come out as one."""
        chunks = self.chunks
        while True:
            if chunks:
                data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
                chunks.clear()
                self._buffered = 0
                self._last_activity = self.loop.time()
                if self._reading_paused and self.transport is not None and not self.closed:
                    self._reading_paused = False
                    self.transport.resume_reading()
                yield data
            elif self.complete:
                return
            elif self.error is not None:
                raise self.error
            else:
                self._body_waiter = self.loop.create_future()
                await self._body_waiter

    @property
    def at_eof(self) -> bool:
        return self.complete and not self.chunks

    def _check_timeout(self) -> None:
        if self.complete:
            self._timer = None
            return
        idle = self.loop.time() - self._last_activity
        if self._reading_paused:  # waiting for our own client to take what is held: not the service's fault
            idle = 0.0
        if idle < self._read_timeout:
            self._timer = self.loop.call_later(self._read_timeout - idle, self._check_timeout)
            return
        self._timer = None
        self._fail(UpstreamTimeout("no answer in time"))
        if self.transport is not None:
            self.transport.close()

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self._wake()

    def _wake(self) -> None:
        for waiter in (self._head_waiter, self._body_waiter):
            if waiter is not None and not waiter.done():
                if self.error is not None and not self.headers_done and waiter is self._head_waiter:
                    waiter.set_exception(self.error)
                else:
                    waiter.set_result(None)

    # asyncio.Protocol.

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not derive from asyncio's

    def data_received(self, data: bytes) -> None:
        if not self.active or self.complete:  # nothing more is owed: whatever this is, the connection is spoilt
            self.keep_alive = False
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            return
        self._last_activity = self.loop.time()
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(UpstreamBroken(f"unreadable answer: {error}"))
            if self.transport is not None:
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.active and self.headers_done and self._until_close and not self.complete:
            self.complete = True  # the connection's end is the answer's end
            self._wake()
        elif self.active:
            self._fail(UpstreamBroken("the service closed the connection"))
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # httptools callbacks.

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the final one follows
            self.headers = []
            return
        self.status = status
        self.headers_done = True
        if self._head_request:
            # The parser cannot be told the answer has no body; the connection is not reused after it.
            self.complete = True
            self.keep_alive = False
        elif status not in (204, 304):
            self._until_close = not any(name in (b"content-length", b"transfer-encoding") for name, _ in self.headers)
        if self._head_waiter is not None and not self._head_waiter.done():
            self._head_waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        if self._head_request:
            return
        self.chunks.append(body)
        self._buffered += len(body)
        if self._buffered > READ_HIGH_WATER and not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()
        if self._body_waiter is not None and not self._body_waiter.done():
            self._body_waiter.set_result(None)

    def on_message_complete(self) -> None:
        if not self.headers_done or self._head_request:  # the end of an interim answer, or already over
            return
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()
        if self._body_waiter is not None and not self._body_waiter.done():
            self._body_waiter.set_result(None)


class UpstreamClient:
    """Keep-alive connections per origin, at most ``max_connections`` exchanges at once."""

    def __init__(
        self, *, connect_timeout: float, read_timeout: float, max_connections: int, keepalive_timeout: float = 30.0
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.keepalive_timeout = keepalive_timeout
        self._limit = asyncio.Semaphore(max_connections)
        self._idle: dict[Origin, deque[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    def request(
        self,
        method: str,
        origin: Origin,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None = None,
        content_length: int | None = None,
    ) -> Exchange:
        """``async with client.request(...) as answer``: the answer's head has arrived inside the block."""
        return Exchange(self, method, origin, target, headers, body, content_length)

    async def aclose(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                if connection.transport is not None:
                    connection.transport.close()
        self._idle.clear()

    async def _connect(self, origin: Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if origin.tls:
            tls = self._tls = self._tls or ssl.create_default_context()
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop), origin.host, origin.port, ssl=tls
                )
        except TimeoutError:
            raise UpstreamTimeout("no connection in time") from None
        except OSError as error:
            raise UpstreamUnavailable(str(error)) from None
        return connection

    def _take_idle(self, origin: Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()  # the most recently used: the least likely to have been closed by the service
            if not connection.closed and now - connection.idle_since < self.keepalive_timeout:
                return connection
            if connection.transport is not None:
                connection.transport.close()
        return None

    def _put_back(self, origin: Origin, connection: _Connection, reusable: bool) -> None:
        if reusable:
            connection.idle_since = connection.loop.time()
            self._idle.setdefault(origin, deque()).append(connection)
        else:
            connection.closed = True
            if connection.transport is not None:
                connection.transport.close()


class Exchange:
    """One request and its answer: ``status``, ``headers`` (lower-case names), ``body()``."""

    def __init__(
        self,
        client: UpstreamClient,
        method: str,
        origin: Origin,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: AsyncIterator[bytes] | None,
        content_length: int | None,
    ) -> None:
        self._client = client
        self._method = method
        self._origin = origin
        self._target = target
        self._headers = headers
        self._body = body
        self._chunked = body is not None and content_length is None
        self._connection: _Connection | None = None
        self._holds_slot = False

    @property
    def status(self) -> int:
        assert self._connection is not None
        return self._connection.status

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        assert self._connection is not None
        return self._connection.headers

    @property
    def at_eof(self) -> bool:
        """The whole body has been handed out."""
        assert self._connection is not None
        return self._connection.at_eof

    def body(self) -> AsyncIterator[bytes]:
        assert self._connection is not None
        return self._connection.body()

    async def __aenter__(self) -> Exchange:
        client = self._client
        await client._limit.acquire()
        self._holds_slot = True
        head = self._head()
        retry = self._body is None and self._method in RETRYABLE_METHODS
        try:
            while True:
                connection = client._take_idle(self._origin)
                reused = connection is not None
                if connection is None:
                    connection = await client._connect(self._origin)
                self._connection = connection
                connection.begin(self._method == "HEAD", client.read_timeout)
                try:
                    await self._send(connection, head)
                    await connection.wait_head()
                except UpstreamBroken:
                    if not (reused and retry and not connection.received):
                        raise
                    # The service closed the idle connection as the request went out: nothing was done; again.
                    self._connection = None
                    connection.end()
                    client._put_back(self._origin, connection, reusable=False)
                    retry = False
                    continue
                return self
        except BaseException:
            self._release()
            raise

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _head(self) -> bytes:
        lines = [
            b"%s %s%s HTTP/1.1\r\nhost: %s\r\n"
            % (self._method.encode("latin-1"), self._origin.path_prefix, self._target, self._origin.host_header)
        ]
        lines += [b"%s: %s\r\n" % pair for pair in self._headers]
        if self._chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)

    async def _send(self, connection: _Connection, head: bytes) -> None:
        connection.write(head)
        if self._body is None:
            return
        async for chunk in self._body:
            if connection.closed or connection.error is not None:
                break  # the service stopped listening (or answered already): its answer tells why
            connection.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if self._chunked else chunk)
            await connection.drain()
        else:
            if self._chunked and not connection.closed:
                connection.write(b"0\r\n\r\n")

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            reusable = connection.end()
            self._client._put_back(self._origin, connection, reusable)
        if self._holds_slot:
            self._holds_slot = False
            self._client._limit.release()
