"""Engine and session factory bound to the service's own schema and role."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, exc, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from servicekit.settings import ServiceSettings

POOL_RECYCLE_SECONDS = 1800
"""Connections older than this are replaced at checkout, before a firewall or the server drops them idle."""


def create_engine(settings: ServiceSettings, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose connections see only the service's schema first, then PostGIS in ``public``.

    A connection the server closed (a restart, an administrator's ``pg_terminate_backend``) is noticed at
    checkout and replaced, without the round trips of SQLAlchemy's ``pool_pre_ping``: asyncpg learns of the
    closed socket from the event loop, so a look at the connection suffices. ``pool_pre_ping`` cost three
    round trips (BEGIN, a ping, ROLLBACK) before every unit of work, about a third of a small transaction's
    CPU. A connection that dies unseen (a silent network failure) fails its statement; SQLAlchemy then
    discards it and the pool's older connections, and the request or event is retried by its caller.
    """
    engine = create_async_engine(
        settings.database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_recycle=POOL_RECYCLE_SECONDS,
        connect_args={
            "server_settings": {
                "search_path": f'"{settings.db_schema}", public',
                "application_name": settings.service_name,
            }
        },
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    return engine


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Pool checkout hook: a connection closed by the server is thrown away and the pool opens another."""
    if dbapi_connection.driver_connection.is_closed():
        raise exc.DisconnectionError("the server closed this pooled connection")


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The same URL for a bare asyncpg connection (LISTEN/NOTIFY needs one outside the pool)."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
