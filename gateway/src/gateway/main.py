"""The gateway's composition root: ``uvicorn gateway.main:create_app --factory --port 8000``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator

from gateway.health import router as health_router
from gateway.settings import GatewaySettings
from servicekit.http.problems import install_problem_handlers
from servicekit.logs import TraceparentMiddleware, configure_logging


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", level=settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One shared client for every upstream call: explicit timeouts and connection limits.
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, connect=2.0),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        ) as client:
            app.state.http = client
            yield

    app = FastAPI(
        title="Gorod gateway",
        description="The single entry point of Gorod: public API, admin API, Open311 GeoReport v2.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    app.add_middleware(TraceparentMiddleware)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    Instrumentator(registry=CollectorRegistry(), excluded_handlers=["/metrics", "/health.*"]).instrument(app).expose(
        app, endpoint="/metrics", include_in_schema=False
    )
    app.include_router(health_router)
    return app
