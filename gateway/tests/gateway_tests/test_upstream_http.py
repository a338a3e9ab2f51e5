"""The proxy's HTTP/1.1 client against scripted servers on loopback: what a real service (or a broken one) says,
byte for byte, including the awkward cases a framework upstream seldom produces."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from gateway.upstream_http import (
    Exchange,
    Origin,
    UpstreamBroken,
    UpstreamClient,
    UpstreamTimeout,
    UpstreamUnavailable,
)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@asynccontextmanager
async def scripted(handler: Handler) -> AsyncIterator[tuple[Origin, list[bytes]]]:
    """A server that hands each connection (and its number) to ``handler``; yields its origin and the heads read."""
    heads: list[bytes] = []
    connections = 0

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            await handler(reader, writer, connections)
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Origin.parse(f"http://127.0.0.1:{port}"), heads
    finally:
        server.close()


async def read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def client(read_timeout: float = 2.0) -> UpstreamClient:
    return UpstreamClient(connect_timeout=1.0, read_timeout=read_timeout, max_connections=8)


async def whole(exchange: Exchange) -> bytes:
    return b"".join([chunk async for chunk in exchange.body()])


async def test_a_keep_alive_connection_carries_the_next_request() -> None:
    seen: list[tuple[int, bytes]] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        while True:
            try:
                seen.append((number, await read_head(reader)))
            except asyncio.IncompleteReadError:
                return
            writer.write(OK)

    async with scripted(handler) as (origin, _):
        upstream = client()
        for _ in range(2):
            async with upstream.request("GET", origin, b"/a?b=1", [(b"x-request-id", b"r1")]) as answer:
                assert (answer.status, await whole(answer)) == (200, b"ok")
        await upstream.aclose()

    assert [number for number, _ in seen] == [1, 1]
    head = seen[0][1]
    assert head.startswith(b"GET /a?b=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"\r\nx-request-id: r1\r\n" in head


def _closes_after_first_answer(answered: list[int]) -> Handler:
    """Answers one request per connection, then reads the next and hangs up without a word: a service whose
    keep-alive timeout ran out just as the request went out."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_head(reader)
        answered.append(number)
        writer.write(OK)
        await writer.drain()
        await reader.read(1)

    return handler


async def test_a_get_on_a_connection_the_service_dropped_is_sent_again_on_a_new_one() -> None:
    answered: list[int] = []
    async with scripted(_closes_after_first_answer(answered)) as (origin, _):
        upstream = client()
        for _ in range(2):
            async with upstream.request("GET", origin, b"/", []) as answer:
                assert await whole(answer) == b"ok"
        await upstream.aclose()

    assert answered == [1, 2]


async def test_a_request_with_a_body_is_never_sent_twice() -> None:
    answered: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield b"{}"

    async with scripted(_closes_after_first_answer(answered)) as (origin, _):
        upstream = client()
        async with upstream.request("GET", origin, b"/", []) as answer:
            await whole(answer)
        with pytest.raises(UpstreamBroken):
            async with upstream.request("POST", origin, b"/", [(b"content-length", b"2")], body(), 2):
                pass
        await upstream.aclose()

    assert answered == [1]


async def test_interim_answers_are_skipped_and_an_answer_may_end_with_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\nHTTP/1.1 201 Created\r\nx-a: 1\r\n\r\nall")
        await writer.drain()
        writer.write(b" of it")

    async with scripted(handler) as (origin, _):
        upstream = client()
        async with upstream.request("GET", origin, b"/", []) as answer:
            assert answer.status == 201
            assert answer.headers == [(b"x-a", b"1")]
            assert await whole(answer) == b"all of it"
        assert not upstream._idle.get(origin)  # an answer delimited by the close leaves nothing to reuse
        await upstream.aclose()


async def test_a_head_answer_ends_with_its_headers() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n")
        await reader.read(1)

    async with scripted(handler) as (origin, _):
        upstream = client()
        async with asyncio.timeout(1), upstream.request("HEAD", origin, b"/", []) as answer:
            assert (answer.status, await whole(answer)) == (200, b"")
        await upstream.aclose()


async def test_a_chunked_body_is_framed_and_streamed() -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        received.append(await read_head(reader))
        received.append(await reader.readuntil(b"0\r\n\r\n"))
        writer.write(OK)

    async def body() -> AsyncIterator[bytes]:
        yield b"hello"
        yield b", world"

    async with scripted(handler) as (origin, _):
        upstream = client()
        async with upstream.request("POST", origin, b"/", [], body()) as answer:
            assert await whole(answer) == b"ok"
        await upstream.aclose()

    assert b"\r\ntransfer-encoding: chunked\r\n" in received[0]
    assert received[1] == b"5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"


async def test_silence_is_a_timeout_a_refused_connection_is_unavailable_garbage_is_broken() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_head(reader)
        await asyncio.sleep(2)

    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await read_head(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await reader.read(1)

    upstream = client(read_timeout=0.2)
    async with scripted(silent) as (origin, _):
        with pytest.raises(UpstreamTimeout):
            async with upstream.request("GET", origin, b"/", []):
                pass
    async with scripted(garbage) as (origin, _):
        with pytest.raises(UpstreamBroken):
            async with upstream.request("GET", origin, b"/", []):
                pass
    with pytest.raises(UpstreamUnavailable):
        async with upstream.request("GET", origin, b"/", []):  # that server has gone
            pass
    await upstream.aclose()
    assert upstream._limit._value == 8  # every failure gave its slot back
