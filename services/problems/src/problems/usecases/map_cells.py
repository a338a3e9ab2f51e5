"""Folding the map's cluster-cell deltas into ``map_cells`` (the worker, every few seconds).

Reports do not touch the shared ``map_cells`` rows: the trigger appends ±1 deltas (migration 0004) and the map
reads cells plus deltas. Folding keeps the deltas few, so the map stays fast; it changes no answer."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from problems.settings import ProblemsSettings
from servicekit.db import create_engine, create_session_factory

log = logging.getLogger(__name__)


async def fold(session_factory: async_sessionmaker[AsyncSession]) -> int:
    """Move every committed delta into ``map_cells`` in one transaction; returns how many were folded."""
    async with session_factory() as session, session.begin():
        return int((await session.execute(text("SELECT problems.map_cells_fold()"))).scalar_one())


async def run_folder(settings: ProblemsSettings, stop: asyncio.Event) -> None:
    """The worker's loop: a fold every ``map_cells_fold_interval`` seconds until ``stop`` is set."""
    engine = create_engine(settings, pool_size=1)
    session_factory = create_session_factory(engine)
    try:
        while not stop.is_set():
            try:
                await fold(session_factory)
            except Exception as error:  # the database away for a moment: try again next pass
                log.warning("map cells fold failed: %r", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.map_cells_fold_interval)
    finally:
        await engine.dispose()
