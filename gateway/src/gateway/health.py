"""``/health``: every service's readiness by name, asked concurrently with a short timeout."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from servicekit.logs import current_trace_headers

router = APIRouter(tags=["health"])


async def _service_status(client: httpx.AsyncClient, base_url: str, timeout: float) -> dict[str, object]:
    try:
        response = await client.get(f"{base_url}/health/ready", timeout=timeout, headers=current_trace_headers())
    except httpx.HTTPError as error:
        return {"status": "unreachable", "error": type(error).__name__}
    try:
        body = response.json()
    except ValueError:
        body = {}
    checks = body.get("checks", {}) if isinstance(body, dict) else {}
    return {"status": "ready" if response.status_code == 200 else "unready", "checks": checks}


@router.get("/health", summary="Readiness of every service by name (anyone may call)")
async def health(request: Request) -> JSONResponse:
    settings = request.app.state.settings
    client: httpx.AsyncClient = request.app.state.http
    urls = settings.service_urls()
    statuses = await asyncio.gather(*(_service_status(client, url, settings.health_timeout) for url in urls.values()))
    services = dict(zip(urls, statuses, strict=True))
    ok = all(status["status"] == "ready" for status in statuses)
    return JSONResponse({"status": "ok" if ok else "degraded", "services": services}, status_code=200 if ok else 503)


@router.get("/health/live", summary="The gateway process is up (anyone may call)")
async def live() -> dict[str, str]:
    return {"status": "live", "service": "gateway"}


@router.get("/health/ready", summary="The gateway can serve (anyone may call)")
async def ready() -> dict[str, str]:
    return {"status": "ready", "service": "gateway"}
