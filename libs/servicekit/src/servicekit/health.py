"""``/health/live`` (the process answers) and ``/health/ready`` (its database and broker answer, for real)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractConnection
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit import broker, db

CHECK_TIMEOUT = 2.0


class BrokerProbe:
    """Keeps one connection and proves it alive by opening a channel: a real round trip per check."""

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self._connection: AbstractConnection | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> None:
        async with self._lock:
            if self._connection is None or self._connection.is_closed:
                self._connection = await broker.connect(self._amqp_url, timeout=CHECK_TIMEOUT)
            try:
                channel = await self._connection.channel()
                await channel.close()
            except Exception:
                await self.close()
                raise

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()


async def readiness(engine: AsyncEngine, probe: BrokerProbe) -> tuple[bool, dict[str, str]]:
    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "database": lambda: db.ping(engine),
        "broker": probe.check,
    }

    async def run(check: Callable[[], Awaitable[None]]) -> str:
        try:
            await asyncio.wait_for(check(), timeout=CHECK_TIMEOUT)
        except Exception as error:
            return f"down: {type(error).__name__}"
        return "ok"

    results = await asyncio.gather(*(run(check) for check in checks.values()))
    named = dict(zip(checks, results, strict=True))
    return all(result == "ok" for result in results), named


def health_router(service_name: str) -> APIRouter:
    router = APIRouter(prefix="/health", tags=["health"])

    @router.get("/live", summary="The process is up (anyone may call)")
    async def live() -> dict[str, str]:
        return {"status": "live", "service": service_name}

    @router.get("/ready", summary="The database and broker answer (anyone may call)")
    async def ready(request: Request) -> JSONResponse:
        kit = request.app.state.kit
        ok, checks = await readiness(kit.engine, kit.broker_probe)
        return JSONResponse(
            {"status": "ready" if ok else "unready", "service": service_name, "checks": checks},
            status_code=200 if ok else 503,
        )

    return router
