"""The body of every service's ``worker.py``: the outbox relay, the consumers, and housekeeping timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.consumer import ConsumerRunner, Subscription
from servicekit.db import create_engine, create_session_factory
from servicekit.http import idempotency
from servicekit.logs import configure_logging
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.tables import kit_tables

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 3600.0

HousekeepingJob = Callable[[AsyncSession], Awaitable[int]]
"""A periodic clean-up inside one transaction; returns how many rows it removed (for the log)."""
BackgroundTask = Callable[[asyncio.Event], Awaitable[None]]
"""A long-running loop of the service's own (an e-mail sender, a projector) that returns once the event is set."""


async def run_worker(
    settings: ServiceSettings,
    subscriptions: Sequence[Subscription],
    *,
    housekeeping: Sequence[HousekeepingJob] = (),
    stop: asyncio.Event | None = None,
    housekeeping_interval: float = HOUSEKEEPING_INTERVAL,
    background: Sequence[BackgroundTask] = (),
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): relay the outbox, consume events, run the clean-ups
    (expired idempotency keys, and the service's own ``housekeeping`` jobs) every interval, and the service's
    ``background`` loops beside them."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings, pool_size=5)
    session_factory = create_session_factory(engine)
    relay = OutboxRelay(
        engine=engine,
        schema=settings.db_schema,
        amqp_url=settings.amqp_url,
        batch_size=settings.outbox_batch_size,
        poll_interval=settings.outbox_poll_interval,
    )
    tables = kit_tables(settings.db_schema)

    async def purge_idempotency_keys(session: AsyncSession) -> int:
        return await idempotency.purge_expired(session, tables)

    cleanups = [purge_idempotency_keys, *housekeeping]
    jobs = [
        relay.run(stop),
        _housekeeping(cleanups, session_factory, stop, housekeeping_interval),
        *(task(stop) for task in background),
    ]
    if subscriptions:
        consumers = ConsumerRunner(
            service_name=settings.service_name,
            schema=settings.db_schema,
            amqp_url=settings.amqp_url,
            session_factory=session_factory,
            subscriptions=subscriptions,
            prefetch=settings.consumer_prefetch,
            retry_delays=settings.consumer_retry_delays,
            delivery_limit=settings.queue_delivery_limit,
        )
        jobs.append(consumers.run(stop))
    log.info("worker started: %d subscription(s)", len(subscriptions))
    try:
        await asyncio.gather(*jobs)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
        await engine.dispose()
        log.info("worker stopped")


async def _housekeeping(
    jobs: Sequence[HousekeepingJob],
    session_factory: async_sessionmaker[AsyncSession],
    stop: asyncio.Event,
    interval: float,
) -> None:
    while not stop.is_set():
        for job in jobs:
            try:
                async with session_factory() as session, session.begin():
                    removed = await job(session)
                if removed:
                    log.info("%s removed %d rows", getattr(job, "__name__", "housekeeping"), removed)
            except Exception as error:
                log.warning("housekeeping job %s failed: %r", getattr(job, "__name__", job), error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


def main(
    settings: ServiceSettings,
    subscriptions: Sequence[Subscription],
    housekeeping: Sequence[HousekeepingJob] = (),
    *,
    housekeeping_interval: float = HOUSEKEEPING_INTERVAL,
    background: Sequence[BackgroundTask] = (),
) -> None:
    """The entry point of a service's ``worker.py``: logging, then :func:`run_worker` until SIGTERM."""
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    # The worker's event loop is its hot path (relay confirms, deliveries, asyncpg): uvloop, as uvicorn uses for
    # the API processes, takes a fifth or so off its CPU per event (bench/events.py --no-uvloop shows it).
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        runner.run(
            run_worker(
                settings,
                subscriptions,
                housekeeping=housekeeping,
                housekeeping_interval=housekeeping_interval,
                background=background,
            )
        )


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop when it is installed (``uvicorn[standard]`` brings it), else asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
