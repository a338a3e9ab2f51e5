"""The gateway's composition root: ``uvicorn gateway.main:create_app --factory --port 8000``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.audit import AuditLog
from gateway.cors import CorsPolicy
from gateway.docs import router as docs_router
from gateway.health import router as health_router
from gateway.open311.api import router as open311_router
from gateway.open311.upstream import Upstream
from gateway.proxy import EdgeState, ProxyMetrics, ProxyMiddleware
from gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from gateway.routes import RouteTable, default_routes
from gateway.settings import GatewaySettings
from gateway.upstream_http import Origin, UpstreamClient
from servicekit.http import metrics as request_metrics
from servicekit.http.problems import install_problem_handlers
from servicekit.logs import configure_logging


class Gateway(FastAPI):
    """FastAPI with the edge (request id, traceparent, CORS, the proxy) in front of all of it: a proxied request
    never enters FastAPI (its telemetry hook, error and exception middleware, router)."""

    front: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.front is None:
            await super().__call__(scope, receive, send)
        else:
            await self.front(scope, receive, send)

    async def fastapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app behind the edge: the gateway's own routes."""
        await super().__call__(scope, receive, send)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", level=settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One shared client for every upstream call: explicit timeouts and connection limits.
        upstream = UpstreamClient(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.upstream_timeout,
            max_connections=settings.max_connections,
        )
        origins = {name: Origin.parse(url) for name, url in settings.service_urls().items()}
        async with (
            httpx.AsyncClient(
                timeout=httpx.Timeout(settings.upstream_timeout, connect=settings.connect_timeout, pool=2.0),
                limits=httpx.Limits(
                    max_connections=settings.max_connections,
                    max_keepalive_connections=settings.max_keepalive_connections,
                ),
                follow_redirects=False,
            ) as client,
        ):
            app.state.http = client
            limiter: RateLimiter | None = None
            if settings.rate_limit_enabled:
                limiter = (
                    RedisRateLimiter(settings.redis_url, settings.redis_prefix)
                    if settings.redis_url
                    else MemoryRateLimiter()
                )
            cors = CorsPolicy(max_age=settings.cors_max_age)
            audit = AuditLog(settings.audit_log_path)
            state = EdgeState(
                settings, RouteTable(default_routes()), client, upstream, origins, limiter, cors, audit, {}
            )
            app.state.edge = state
            app.state.open311 = Upstream(settings, client)
            refresher = asyncio.create_task(cors.keep_fresh(client, settings.auth_url, settings.cors_refresh_interval))
            try:
                yield
            finally:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
                if limiter is not None:
                    await limiter.aclose()
                audit.close()
                await upstream.aclose()
                app.state.edge = None

    app = Gateway(
        title="Gorod gateway",
        description=(
            "The single entry point of Gorod: proxies the public API (/api/v1), the admin API (/admin/v1) and "
            "auth's OAuth endpoints and pages to the services; serves Open311 GeoReport v2 (/open311/v2), the "
            "merged OpenAPI documents and the platform's health."
        ),
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.edge = None
    app.state.open311 = None
    install_problem_handlers(app)
    # The gateway's own routes (health, Open311, docs) are counted by the kit's request metrics, as the services'
    # are; proxied requests never reach them and are counted by the proxy's own metrics, in the same registry.
    registry = request_metrics.install(app)
    app.front = ProxyMiddleware(app.fastapi, state_of=lambda: app.state.edge, metrics=ProxyMetrics(registry))
    app.include_router(health_router)
    app.include_router(docs_router)
    app.include_router(open311_router)
    return app
