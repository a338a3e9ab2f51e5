"""The auth worker's clean-ups: expired grants and stale login counters go; live ones stay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from auth.db.tables import login_throttle
from auth.worker import purge_stale_login_counters
from servicekit.app import ServiceContext


async def test_stale_login_counters_are_forgotten_and_live_locks_kept(kit: ServiceContext) -> None:
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex
    rows = {
        f"account:stale-{tag}": {"window_started_at": now - timedelta(days=3), "locked_until": None},
        f"account:old-lock-{tag}": {
            "window_started_at": now - timedelta(days=3),
            "locked_until": now - timedelta(days=2),
        },
        f"account:recent-{tag}": {"window_started_at": now - timedelta(minutes=5), "locked_until": None},
        f"ip:locked-{tag}": {"window_started_at": now - timedelta(days=3), "locked_until": now + timedelta(minutes=10)},
    }
    async with kit.unit_of_work() as uow:
        await uow.session.execute(login_throttle.insert(), [{"key": k, "failures": 3, **v} for k, v in rows.items()])
        await uow.commit()
    async with kit.unit_of_work() as uow:
        removed = await purge_stale_login_counters(uow.session)
        await uow.commit()
    async with kit.session_factory() as session:
        left = set(
            (await session.execute(select(login_throttle.c.key).where(login_throttle.c.key.like(f"%{tag}")))).scalars()
        )
    assert left == {f"account:recent-{tag}", f"ip:locked-{tag}"}
    assert removed >= 2
