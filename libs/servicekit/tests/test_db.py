"""The kit's engine: a pooled connection the server closed is replaced at checkout, not handed out."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from servicekit.db import asyncpg_dsn, create_engine
from servicekit.settings import ServiceSettings


async def test_a_connection_the_server_closed_is_replaced_before_anyone_uses_it(kit_settings: ServiceSettings) -> None:
    engine = create_engine(kit_settings, pool_size=1)
    try:
        async with engine.connect() as conn:  # one connection, now idle in the pool
            first_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()

        # What a database restart or an administrator does to it (a role may end its own backends).
        admin = await asyncpg.connect(asyncpg_dsn(kit_settings.database_url))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first_pid)
            for _ in range(100):  # until the backend has exited, so its socket is closed
                if not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", first_pid):
                    break
                await asyncio.sleep(0.02)
        finally:
            await admin.close()
        await asyncio.sleep(0.05)  # a few turns of the loop, in which asyncpg reads the end of the stream

        # Without the checkout check this statement would fail with "connection was closed".
        async with engine.connect() as conn:
            second_pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second_pid != first_pid
    finally:
        await engine.dispose()
