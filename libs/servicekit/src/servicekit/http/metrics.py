"""Request metrics for ``/metrics``: a count and a duration histogram per method, route template and status class.

A pure ASGI middleware of the kit's own took the place of prometheus-fastapi-instrumentator, whose middleware
was about a seventh of a small request's CPU (a country-zoom map answer, profiled with py-spy): it matched the
request against every route again and kept four metric families. The route template here is the one the
router already matched (``scope["route"]``). The names and labels are the instrumentator's, so dashboards keep
working: ``http_requests_total{method, handler, status="2xx"}`` and
``http_request_duration_seconds{method, handler}``. Requests that match no route count under handler
``none``; ``/metrics`` and ``/health/...`` are not counted.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXCLUDED_PREFIXES = ("/metrics", "/health/")

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)


class RequestMetrics:
    """ASGI middleware that counts and times each HTTP request by its route template."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests_total", "Requests by method, route template and status class.",
            ("method", "handler", "status"), registry=registry,
        )  # fmt: skip
        self.duration = Histogram(
            "http_request_duration_seconds", "Request duration by method and route template.",
            ("method", "handler"), buckets=DURATION_BUCKETS, registry=registry,
        )  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            handler = getattr(route, "path", None) or "none"
            if not handler.startswith(EXCLUDED_PREFIXES):
                method = scope["method"]
                self.requests.labels(method, handler, f"{status // 100}xx").inc()
                self.duration.labels(method, handler).observe(time.perf_counter() - started)


ScrapeHook = Callable[[Request], Awaitable[None]]
"""Brings gauges up to date just before ``/metrics`` answers (a reading from the database, say)."""


def install(
    app: FastAPI, registry: CollectorRegistry | None = None, *, before_scrape: Sequence[ScrapeHook] = ()
) -> CollectorRegistry:
    """Count the app's requests in ``registry`` (by default one of its own), exposed at ``/metrics`` (not in the
    OpenAPI schema; for the monitoring inside the platform, not routed by the gateway); returns the registry,
    for the app's other metrics. ``before_scrape`` hooks run, in order, on every scrape."""
    registry = CollectorRegistry() if registry is None else registry
    app.add_middleware(RequestMetrics, registry=registry)

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        for hook in before_scrape:
            await hook(request)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return registry
