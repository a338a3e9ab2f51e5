"""Engine and session factory bound to the service's own schema and role."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from servicekit.settings import ServiceSettings


def create_engine(settings: ServiceSettings, *, pool_size: int = 10) -> AsyncEngine:
    """An engine whose connections see only the service's schema first, then PostGIS in ``public``."""
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {
                "search_path": f'"{settings.db_schema}", public',
                "application_name": settings.service_name,
            }
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def asyncpg_dsn(sqlalchemy_url: str) -> str:
    """The same URL for a bare asyncpg connection (LISTEN/NOTIFY needs one outside the pool)."""
    return sqlalchemy_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
