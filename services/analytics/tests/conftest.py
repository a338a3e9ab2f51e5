"""Fixtures of the analytics tests: the real app and database of the test stack, and a way to feed events."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.domain.synthetic import SyntheticEvent
from analytics.events.consumed import archive_event
from analytics.main import create_app
from analytics.settings import AnalyticsSettings
from analytics.usecases.projector import project_once
from servicekit.app import ServiceContext
from servicekit.db import create_engine
from servicekit.events import TYPE_PREFIX, CloudEvent
from servicekit.testing.plugin import TestStack
from servicekit.uow import UnitOfWork

MODEL_TABLES = (
    "territories",
    "authorities",
    "problems",
    "problem_days",
    "problem_weeks",
    "appeals",
    "appeal_times",
    "authority_days",
    "votes",
    "vote_attributions",
    "vote_days",
)


@pytest.fixture(scope="session")
def settings(gorod_stack: TestStack) -> AnalyticsSettings:
    return AnalyticsSettings()


@pytest.fixture(scope="session")
async def engine(settings: AnalyticsSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings, pool_size=4)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def app(settings: AnalyticsSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://analytics.test") as c:
        yield c


async def truncate_all(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as conn:
        await conn.execute(
            text(f"TRUNCATE archive, projection_positions, inbox, outbox, {', '.join(MODEL_TABLES)} RESTART IDENTITY")
        )
    return engine


@pytest.fixture
async def clean(engine: AsyncEngine) -> AsyncEngine:
    """Every test starts from an empty archive and empty read models."""
    return await truncate_all(engine)


def cloud_event(item: SyntheticEvent) -> CloudEvent:
    return CloudEvent(
        id=uuid.uuid4(),
        source=item.routing_key.split(".", 1)[0],
        type=TYPE_PREFIX + item.routing_key,
        time=item.time,
        subject=item.subject,
        data=item.data,
    )


Feed = Callable[..., Awaitable[list[CloudEvent]]]


def feeder(app: FastAPI) -> Feed:
    kit: ServiceContext = app.state.kit

    async def run(items: Iterable[SyntheticEvent], *, per_transaction: int = 1) -> list[CloudEvent]:
        events = [cloud_event(item) for item in items]
        for start in range(0, len(events), per_transaction):
            async with UnitOfWork(kit.session_factory, "analytics") as uow:
                for event in events[start : start + per_transaction]:
                    await archive_event(event, uow)
                await uow.commit()
        return events

    return run


@pytest.fixture
def feed(app: FastAPI) -> Feed:
    """Hand events to the consumer's handler, each in its own unit of work as the consumer runner does (or
    ``per_transaction`` at a time, to load many quickly)."""
    return feeder(app)


async def project_all(engine: AsyncEngine) -> None:
    while await project_once(engine, batch=500):
        pass


async def dump(engine: AsyncEngine, table: str) -> list[tuple[object, ...]]:
    """Every row of a read model, in a stable order, geometry as text."""
    async with engine.connect() as conn:
        columns = [
            r[0]
            for r in await conn.execute(
                text(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = 'analytics' AND table_name = :t ORDER BY ordinal_position"
                ),
                {"t": table},
            )
        ]
        select = ", ".join(f"ST_AsText({c})" if c in ("point", "boundary") else c for c in columns)
        order = ", ".join(str(n) for n in range(1, len(columns) + 1))
        rows = await conn.execute(text(f"SELECT {select} FROM {table} ORDER BY {order}"))
        return [tuple(r) for r in rows]


MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _migration_backfill(name: str) -> str:
    spec = importlib.util.spec_from_file_location(f"rollup_migration_{name[:4]}", MIGRATIONS / name)
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    backfill: str = migration.BACKFILL
    return backfill[backfill.index("SELECT") :]


async def rollup_from_scratch(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """``problem_days`` computed afresh from ``problems`` (the SQL that backfills it in migration 0003), in the
    order of :func:`dump`: what the trigger-kept rollup must equal at any time."""
    select = _migration_backfill("0003_problem_days_rollup.py")
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT * FROM ({select}) r ORDER BY 1, 2, 3, 4, 5, 6, 7"))
        return [tuple(r) for r in rows]


async def appeal_times_from_scratch(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """``appeal_times`` computed afresh from ``appeals`` (the backfill of migration 0004), in :func:`dump`'s order."""
    select = _migration_backfill("0004_appeal_times_rollup.py")
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT * FROM ({select}) r ORDER BY 1, 2, 3, 4, 5, 6"))
        return [tuple(r) for r in rows]


async def vote_rollups_from_scratch(engine: AsyncEngine) -> dict[str, list[tuple[object, ...]]]:
    """``vote_attributions`` and ``vote_days`` computed afresh (the backfill of migration 0005), in :func:`dump`'s
    order: what the trigger-kept rollups must equal at any time."""
    spec = importlib.util.spec_from_file_location("rollup_migration_0005", MIGRATIONS / "0005_vote_rollup.py")
    assert spec is not None
    assert spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    attributions = migration.ATTRIBUTION.format(where="true")
    days = migration.DAYS.format(source=f"({attributions})", where="true")
    async with engine.connect() as conn:
        return {
            "vote_attributions": [
                tuple(r)
                for r in await conn.execute(text(f"SELECT * FROM ({attributions}) r ORDER BY 1, 2, 3, 4, 5, 6"))
            ],
            "vote_days": [
                tuple(r) for r in await conn.execute(text(f"SELECT * FROM ({days}) r ORDER BY 1, 2, 3, 4, 5, 6, 7"))
            ],
        }


async def problem_weeks_from_scratch(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """``problem_weeks`` computed afresh from ``problems`` (the backfill of migration 0006), in :func:`dump`'s order."""
    select = _migration_backfill("0006_problem_weeks_rollup.py")
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT * FROM ({select}) r ORDER BY 1, 2, 3, 4, 5, 6, 7"))
        return [tuple(r) for r in rows]


async def authority_days_from_scratch(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """``authority_days`` computed afresh from ``appeals`` and ``problems`` (the backfill of migration 0007), in
    :func:`dump`'s order."""
    select = _migration_backfill("0007_authority_days_rollup.py")
    async with engine.connect() as conn:
        rows = await conn.execute(text(f"SELECT * FROM ({select}) r ORDER BY 1, 2, 3, 4, 5, 6, 7, 8"))
        return [tuple(r) for r in rows]
