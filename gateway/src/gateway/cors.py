"""CORS for the registered web origins only: the ``allowed_origins`` of auth's OAuth clients.

The set is fetched from auth's public ``GET /api/v1/auth/origins`` at start-up and every
``cors_refresh_interval`` seconds, so a site registered by an operator works without a gateway restart (and a
removed one stops working). A failed refresh keeps the last good set. An allowed origin gets its own name back
in ``Access-Control-Allow-Origin`` with ``Allow-Credentials: true`` and ``Vary: Origin``; ``*`` is never sent.
Preflights are answered by the gateway and never reach a service. An upstream that sets its own
``Access-Control-Allow-Origin`` (auth's token endpoint checks the origin against the one client) is left alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import httpx
from starlette.datastructures import MutableHeaders
from starlette.types import Message, Scope, Send

from servicekit.http.problems import problem_response

log = logging.getLogger(__name__)

ALLOWED_METHODS = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOWED_HEADERS = frozenset(
    {
        "accept",
        "accept-language",
        "authorization",
        "content-type",
        "idempotency-key",
        "if-match",
        "if-none-match",
        "traceparent",
        "tracestate",
        "x-request-id",
    }
)
EXPOSED_HEADERS = "Location, Retry-After, X-Request-ID, Link, ETag, Content-Disposition"
ORIGINS_PATH = "/api/v1/auth/origins"


class CorsPolicy:
    def __init__(self, origins: Iterable[str] = (), *, max_age: int = 600) -> None:
        self.origins: frozenset[str] = frozenset(origins)
        self.max_age = max_age
        self.loaded = False

    def allows(self, origin: bytes) -> bool:
        return origin.decode("latin-1") in self.origins

    async def refresh(self, client: httpx.AsyncClient, auth_url: str) -> bool:
        """Fetch the registered origins; keeps the last good set on any failure."""
        try:
            response = await client.get(auth_url + ORIGINS_PATH, timeout=5.0)
            response.raise_for_status()
            origins = response.json()["origins"]
            if not isinstance(origins, list) or not all(isinstance(item, str) for item in origins):
                raise ValueError("origins is not a list of strings")
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as error:
            log.warning("cannot refresh CORS origins from auth: %s", type(error).__name__)
            return False
        if frozenset(origins) != self.origins:
            log.info("CORS origins now: %d", len(origins))
        self.origins = frozenset(origins)
        self.loaded = True
        return True

    async def keep_fresh(self, client: httpx.AsyncClient, auth_url: str, interval: float) -> None:
        while True:
            await self.refresh(client, auth_url)
            await asyncio.sleep(interval)

    async def preflight(self, origin: bytes, scope: Scope, send: Send) -> None:
        if not self.allows(origin):
            response = problem_response(
                403, "Этому сайту не разрешено обращаться к API Города.", instance=scope["path"]
            )
            await response(scope, _no_receive, send)
            return
        requested = b""
        for name, value in scope["headers"]:
            if name == b"access-control-request-headers":
                requested = value
        asked = [item.strip().lower() for item in requested.decode("latin-1").split(",") if item.strip()]
        headers = [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-max-age", str(self.max_age).encode()),
            (b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"),
            (b"content-length", b"0"),
        ]
        allowed = [item for item in asked if item in ALLOWED_HEADERS]
        if allowed:
            headers.append((b"access-control-allow-headers", ", ".join(allowed).encode()))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def wrap_send(self, origin: bytes, send: Send) -> Send:
        allowed = self.allows(origin)

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                upstream_origin = headers.get("access-control-allow-origin")
                if upstream_origin == "*":
                    del headers["access-control-allow-credentials"]
                elif upstream_origin is None and allowed:
                    headers["access-control-allow-origin"] = origin.decode("latin-1")
                    headers["access-control-allow-credentials"] = "true"
                    headers["access-control-expose-headers"] = EXPOSED_HEADERS
                    headers.add_vary_header("Origin")
                elif upstream_origin is None:
                    headers.add_vary_header("Origin")
            await send(message)

        return wrapped


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
