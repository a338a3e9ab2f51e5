"""The composition root every service's ``create_app()`` delegates to.

It wires the kit's cross-cutting parts the same way everywhere: problem+json errors, request ids and
``traceparent``, Prometheus metrics (requests, and the outbox's backlog), health checks, and a lifespan that
opens and closes the database pool, the broker probe and the token verifier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from asgi_correlation_id import CorrelationIdMiddleware
from fastapi import APIRouter, FastAPI, Request
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.db import create_engine, create_session_factory
from servicekit.health import BrokerProbe, health_router
from servicekit.http import metrics as request_metrics
from servicekit.http.problems import install_problem_handlers
from servicekit.logs import TraceparentMiddleware, configure_logging
from servicekit.outbox_backlog import OutboxBacklog
from servicekit.security import TokenVerifier
from servicekit.settings import ServiceSettings
from servicekit.uow import UnitOfWork


@dataclass
class ServiceContext:
    """What a request handler may reach through ``request.app.state.kit``."""

    settings: ServiceSettings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    broker_probe: BrokerProbe
    token_verifier: TokenVerifier

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.session_factory, self.settings.db_schema)


def service_context(request: Request) -> ServiceContext:
    context: ServiceContext = request.app.state.kit
    return context


async def unit_of_work(request: Request) -> UnitOfWork:
    """A FastAPI dependency: a fresh unit of work for this request's use case.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its thread pool, a
    hand-off to another thread and back that costs more than the whole function."""
    return service_context(request).unit_of_work()


def create_service_app(
    settings: ServiceSettings,
    *,
    title: str,
    description: str,
    routers: Sequence[APIRouter] = (),
    version: str = "0.1.0",
    on_startup: Callable[[FastAPI, ServiceContext], Awaitable[None]] | None = None,
) -> FastAPI:
    """``on_startup`` puts the service's own long-lived objects on ``app.state`` once the kit's are open."""
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.kit = ServiceContext(
            settings=settings,
            engine=engine,
            session_factory=create_session_factory(engine),
            broker_probe=BrokerProbe(settings.amqp_url),
            token_verifier=TokenVerifier(
                jwks_url=settings.jwks_url, issuer=settings.jwt_issuer, audience=settings.audience
            ),
        )
        if on_startup is not None:
            await on_startup(app, app.state.kit)
        try:
            yield
        finally:
            await app.state.kit.broker_probe.close()
            await app.state.kit.token_verifier.aclose()
            await engine.dispose()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    install_problem_handlers(app)
    app.add_middleware(TraceparentMiddleware)
    app.add_middleware(CorrelationIdMiddleware, header_name="X-Request-ID")
    registry = CollectorRegistry()
    backlog = OutboxBacklog(registry, settings.db_schema)

    async def read_backlog(request: Request) -> None:
        await backlog.refresh(service_context(request).engine)

    request_metrics.install(app, registry, before_scrape=[read_backlog])
    app.include_router(health_router(settings.service_name))
    for router in routers:
        app.include_router(router)
    return app
