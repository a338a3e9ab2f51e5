"""The body of every service's ``worker.py``: the outbox relay, the consumers, and housekeeping timers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence

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


async def run_worker(
    settings: ServiceSettings, subscriptions: Sequence[Subscription], *, stop: asyncio.Event | None = None
) -> None:
    """Run until SIGTERM/SIGINT (or ``stop``): relay the outbox, consume events, purge old keys."""
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
    jobs = [relay.run(stop), _housekeeping(settings, session_factory, stop)]
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
        await engine.dispose()
        log.info("worker stopped")


async def _housekeeping(
    settings: ServiceSettings, session_factory: async_sessionmaker[AsyncSession], stop: asyncio.Event
) -> None:
    tables = kit_tables(settings.db_schema)
    while not stop.is_set():
        try:
            async with session_factory() as session, session.begin():
                purged = await idempotency.purge_expired(session, tables)
            if purged:
                log.info("purged %d expired idempotency keys", purged)
        except Exception as error:
            log.warning("housekeeping failed: %r", error)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=HOUSEKEEPING_INTERVAL)


def main(settings: ServiceSettings, subscriptions: Sequence[Subscription]) -> None:
    configure_logging(settings.service_name, level=settings.log_level, json=settings.log_json)
    asyncio.run(run_worker(settings, subscriptions))
