"""Fixtures for the kit's own integration tests: a scratch schema ``kittest`` with the kit tables and
a business table, owned by its own role in the test stack."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aio_pika
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.db import create_engine, create_session_factory
from servicekit.migrations.kit_v1 import notify_trigger_statements
from servicekit.settings import ServiceSettings
from servicekit.tables import kit_tables
from servicekit.testing.plugin import TestStack

SCHEMA = "kittest"
business = MetaData(schema=SCHEMA)
widgets = Table("widgets", business, Column("id", UUID(as_uuid=True), primary_key=True), Column("name", Text))
effects = Table("effects", business, Column("event_id", UUID(as_uuid=True), nullable=False), Column("n", Integer))


@pytest.fixture(scope="session")
def kit_settings(gorod_stack: TestStack) -> ServiceSettings:
    return ServiceSettings(
        service_name=SCHEMA,
        db_schema=SCHEMA,
        database_url=gorod_stack.databases[SCHEMA].url,
        amqp_url=gorod_stack.amqp_url,
        log_json=False,
    )


@pytest.fixture(scope="session")
async def kit_engine(kit_settings: ServiceSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(kit_settings)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
        await conn.run_sync(kit_tables(SCHEMA).metadata.create_all)
        await conn.run_sync(business.create_all)
        for statement in notify_trigger_statements(SCHEMA):
            await conn.execute(text(statement))
    yield engine
    await engine.dispose()


@pytest.fixture
async def clean_db(kit_engine: AsyncEngine) -> AsyncEngine:
    """Each test starts with empty tables."""
    async with kit_engine.begin() as conn:
        await conn.execute(
            text(
                f"TRUNCATE {SCHEMA}.outbox, {SCHEMA}.inbox, {SCHEMA}.idempotency_keys, "
                f"{SCHEMA}.widgets, {SCHEMA}.effects"
            )
        )
    return kit_engine


@pytest.fixture
def session_factory(clean_db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(clean_db)


@pytest.fixture
async def amqp(gorod_stack: TestStack) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    connection = await aio_pika.connect(gorod_stack.amqp_url)
    yield connection
    await connection.close()


@pytest.fixture
def unique() -> str:
    """A suffix that keeps each test's queues and routing keys apart."""
    return uuid.uuid4().hex[:8]


@asynccontextmanager
async def relay_dies_before_marking_sent(engine: AsyncEngine) -> AsyncIterator[None]:
    """While inside, the database refuses to mark outbox rows sent: a relay fails after its publishes
    were confirmed, exactly as one that dies between the two steps."""
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"CREATE FUNCTION {SCHEMA}.refuse_mark() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'relay dies here'; END $$"
            )
        )
        await conn.execute(
            text(
                f"CREATE TRIGGER refuse_mark BEFORE UPDATE OF published_at ON {SCHEMA}.outbox "
                f"FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_mark()"
            )
        )
    try:
        yield
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP TRIGGER refuse_mark ON {SCHEMA}.outbox"))
            await conn.execute(text(f"DROP FUNCTION {SCHEMA}.refuse_mark()"))
