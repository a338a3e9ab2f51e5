"""The body of every service's ``migrations/env.py``: async, online, version table in the service's schema."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from servicekit.tables import kit_tables

KIT_TABLE_NAMES = frozenset(table.name for table in kit_tables("kit").metadata.sorted_tables)


def run_alembic_env(*, schema: str, target_metadata: MetaData | None, database_url: str) -> None:
    """Run the migrations of one service. Call it from the service's ``env.py``.

    The environment creates the schema first, since Alembic keeps its version table inside it.
    """
    if context.is_offline_mode():
        context.configure(
            url=database_url,
            target_metadata=target_metadata,
            version_table_schema=schema,
            include_schemas=True,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(schema, target_metadata, database_url))


async def _run_online(schema: str, target_metadata: MetaData | None, database_url: str) -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            await connection.commit()
            await connection.run_sync(_run_sync, schema, target_metadata)
            # The SET above began the transaction, so Alembic's own begin_transaction() nested inside it
            # and left the commit to us.
            await connection.commit()
    finally:
        await engine.dispose()


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Autogenerate compares only the service's own tables: the kit's are created by ``kit_vN`` steps."""
    return not (type_ == "table" and name in KIT_TABLE_NAMES)


def _run_sync(connection: Connection, schema: str, target_metadata: MetaData | None) -> None:
    connection.execute(text(f'SET search_path TO "{schema}", public'))
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table_schema=schema,
        include_schemas=True,
        include_object=_include_object,
        # Reflect only the service's own schema: its role cannot even look into the others.
        include_name=lambda name, type_, _parents: type_ != "schema" or name == schema,
    )
    with context.begin_transaction():
        context.run_migrations()
