"""The projector: builds every read model from the event archive, and rebuilds one from scratch.

Design (see docs/analytics.md): the consumer only appends events to ``archive``; the projector applies the
archive to each read model in one fixed order, ``(txid, seq)``, and keeps a position per model, written in the
same transaction as the model's change. So a read model is a pure function of the archive: an incremental
build and a rebuild from scratch end identical, whatever order the broker delivered the events in, and a
crash between a change and its position cannot happen. Models are applied in dependency order
(``directory`` first: problems and appeals look territories up in it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.db import archive as archive_db
from analytics.db import positions
from analytics.db.projections import MODELS, ModelSql

log = logging.getLogger(__name__)

LIVE_BATCH = 1000
REBUILD_BATCH = 5000
POLL_INTERVAL = 0.25
"""Seconds between polls of the archive when idle: with the consumer, events show within about half a second."""


def models_named(names: Sequence[str] = ()) -> list[ModelSql]:
    """The models asked for (all when none), in dependency order; unknown names raise ValueError."""
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise ValueError(f"unknown read model(s) {unknown}; known: {', '.join(MODELS)}")
    return [m for name, m in MODELS.items() if not names or name in names]


async def project_once(engine: AsyncEngine, *, batch: int = LIVE_BATCH) -> int:
    """Advance every read model by up to ``batch`` archived events; returns how many positions moved in all."""
    total = 0
    for model in MODELS.values():
        async with engine.connect() as conn, conn.begin():
            if not await positions.try_lock_for_transaction(conn, model.name):
                continue  # being rebuilt
            txid, seq = await positions.position(conn, model.name)
            events = await archive_db.read_after_conn(conn, txid, seq, batch)
            if not events:
                continue
            await positions.apply(conn, model, events)
            total += len(events)
            await positions.set_position(conn, model.name, events[-1].txid, events[-1].seq)
    return total


async def run_projector(engine: AsyncEngine, stop: asyncio.Event, *, poll_interval: float = POLL_INTERVAL) -> None:
    """Keep the read models up to date until ``stop`` is set."""
    while not stop.is_set():
        try:
            applied = await project_once(engine)
        except Exception as error:  # a bad event must not stop the others' freshness for long
            log.exception("projector batch failed: %r", error)
            applied = 0
        if applied:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_interval)


Progress = Callable[[int, int, float], None]
"""Called after each rebuild batch with (events done, events in the archive, seconds so far)."""


async def rebuild(
    engine: AsyncEngine,
    names: Sequence[str] = (),
    *,
    batch: int = REBUILD_BATCH,
    progress: Progress | None = None,
) -> int:
    """Empty the named read models (all when none) and build them again from the whole archive.

    The models stay locked against the live projector until done (reports show them filling meanwhile).
    Returns how many archived events were read."""
    models = models_named(names)
    started = time.monotonic()
    async with engine.connect() as conn:
        for model in models:
            await positions.lock_for_session(conn, model.name)
        # the rollups' triggers would cost a statement per row changed; they are filled once at the end instead
        await positions.defer_rollups(conn, True)
        await conn.commit()
        finished = False
        try:
            async with conn.begin():
                total = await archive_db.count_conn(conn)
                for model in models:
                    await positions.truncate(conn, model)
                    await positions.set_position(conn, model.name, 0, 0)
            done = 0
            txid = seq = 0
            while True:
                async with conn.begin():
                    events = await archive_db.read_after_conn(conn, txid, seq, batch)
                    if not events:
                        for model in models:
                            await positions.refresh_rollups(conn, model)
                        break
                    for model in models:
                        await positions.apply(conn, model, events)
                    txid, seq = events[-1].txid, events[-1].seq
                    for model in models:
                        await positions.set_position(conn, model.name, txid, seq)
                done += len(events)
                if progress is not None:
                    progress(done, max(total, done), time.monotonic() - started)
            finished = True
            return done
        finally:
            with contextlib.suppress(Exception):
                await conn.rollback()
            if not finished:
                # a model left half built must at least have rollups that match it, for the live projector
                # (whose triggers keep them from here on) to carry on from; best effort
                with contextlib.suppress(Exception):
                    async with conn.begin():
                        for model in models:
                            await positions.refresh_rollups(conn, model)
            with contextlib.suppress(Exception):
                await positions.defer_rollups(conn, False)
            for model in models:
                await positions.unlock_session(conn, model.name)
            await conn.commit()
