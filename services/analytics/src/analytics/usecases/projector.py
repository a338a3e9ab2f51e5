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

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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
    """Advance every read model by up to ``batch`` archived events; returns how many events they passed in all."""
    total = 0
    async with engine.connect() as conn:
        horizon = await archive_db.horizon(conn)
        await conn.commit()
        for model in MODELS.values():
            async with conn.begin():
                if not await positions.try_lock_for_transaction(conn, model.name):
                    continue  # being rebuilt
                after = await positions.position(conn, model.name)
                applied = await positions.apply_next(conn, model, after, horizon, batch)
                if applied.position is None:
                    continue
                await positions.set_position(conn, model.name, *applied.position)
                total += applied.passed
    return total


async def run_projector(engine: AsyncEngine, stop: asyncio.Event, *, poll_interval: float = POLL_INTERVAL) -> None:
    """Keep the read models up to date until ``stop`` is set."""
    while not stop.is_set():
        try:
            moved = await project_once(engine)
        except Exception as error:  # a bad event must not stop the others' freshness for long
            log.exception("projector batch failed: %r", error)
            moved = 0
        if moved:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=poll_interval)


Progress = Callable[[int, int, float], None]
"""Called as a rebuild goes with (archived events passed by the models, the archive's events times the number of
models, seconds so far)."""

STAGES: tuple[frozenset[str], ...] = (frozenset({"directory"}), frozenset(MODELS) - {"directory"})
"""The order of a rebuild: the directory first (the others look territories up in it), then the others side by
side, each on a connection of its own (they read the directory only), so that they share the machine's cores."""


async def rebuild(
    engine: AsyncEngine,
    names: Sequence[str] = (),
    *,
    batch: int = REBUILD_BATCH,
    progress: Progress | None = None,
) -> int:
    """Empty the named read models (all when none) and build them again from the whole archive.

    The models stay locked against the live projector until done (reports show them filling meanwhile), and
    their rollups' triggers stand aside: the rollups are filled once at the end, from the models. The engine
    should allow a connection per model. Returns how many archived events were passed (by each model)."""
    models = models_named(names)
    started = time.monotonic()
    passed = dict.fromkeys((m.name for m in models), 0)
    async with contextlib.AsyncExitStack() as stack:
        conns = {m.name: await stack.enter_async_context(engine.connect()) for m in models}
        finished = False
        try:
            for model in models:
                await positions.lock_for_session(conns[model.name], model.name)
                await positions.defer_rollups(conns[model.name], True)
                await conns[model.name].commit()
            control = conns[models[0].name]
            async with control.begin():
                total = await archive_db.count_conn(control)
                horizon = await archive_db.horizon(control)
                for model in models:
                    await positions.truncate(control, model)
                    await positions.set_position(control, model.name, 0, 0)

            def report() -> None:
                if progress is not None:
                    done = sum(passed.values())
                    progress(done, max(total * len(models), done), time.monotonic() - started)

            async def build(model: ModelSql) -> None:
                conn = conns[model.name]
                after = (0, 0)
                while True:
                    async with conn.begin():
                        applied = await positions.apply_next(conn, model, after, horizon, batch)
                        if applied.position is None:
                            return
                        after = applied.position
                        await positions.set_position(conn, model.name, *after)
                        passed[model.name] += applied.passed
                    report()

            for stage in STAGES:
                async with asyncio.TaskGroup() as group:
                    for model in models:
                        if model.name in stage:
                            group.create_task(build(model))

            # the models vacuumed and analyzed, for the fills and for what follows (see positions.vacuum); then
            # the rollups, which read several models, once all are built, side by side on the connections
            async def vacuum(model: ModelSql) -> None:
                await positions.vacuum(conns[model.name], model)

            chains = positions.rollup_chains(models)

            async def fill(conn: AsyncConnection) -> None:
                while chains:
                    chain = chains.pop(0)
                    async with conn.begin():
                        await positions.refresh_rollups(conn, chain)

            async with asyncio.TaskGroup() as group:
                for model in models:
                    group.create_task(vacuum(model))
            async with asyncio.TaskGroup() as group:
                for conn in conns.values():
                    group.create_task(fill(conn))
            finished = True
            return max(passed.values(), default=0)
        finally:
            for name, conn in conns.items():
                with contextlib.suppress(Exception):
                    await conn.rollback()
                if not finished and name == models[0].name:
                    # a model left half built must at least have rollups that match it, for the live projector
                    # (whose triggers keep them from here on) to carry on from; best effort
                    with contextlib.suppress(Exception):
                        async with conn.begin():
                            for chain in positions.rollup_chains(models):
                                await positions.refresh_rollups(conn, chain)
                with contextlib.suppress(Exception):
                    await positions.defer_rollups(conn, False)
                with contextlib.suppress(Exception):
                    await positions.unlock_session(conn, name)
                    await conn.commit()
