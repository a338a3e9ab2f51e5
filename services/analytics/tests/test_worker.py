"""End to end through RabbitMQ: an event published on ``gorod.events`` shows in the read models within 2 s."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.domain.synthetic import town_stream
from analytics.settings import AnalyticsSettings
from analytics.worker import run
from servicekit.broker import declare_exchanges

from .conftest import NOW, cloud_event

pytestmark = pytest.mark.integration

FRESHNESS = 2.0


async def _queue_ready(connection: aio_pika.abc.AbstractConnection, name: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe = await connection.channel()  # a failed passive declare closes its channel
            await probe.declare_queue(name, passive=True)
            await probe.close()
            return
        except aio_pika.exceptions.ChannelClosed:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def test_a_published_event_is_in_the_read_models_within_two_seconds(
    clean: AsyncEngine, settings: AnalyticsSettings
) -> None:
    stream = list(town_stream(5, NOW, 3))
    stop = asyncio.Event()
    worker = asyncio.create_task(run(settings, stop))
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await declare_exchanges(channel)
        await _queue_ready(connection, "analytics.archive")
        await asyncio.sleep(0.5)  # let the consumer start consuming
        events = [cloud_event(item) for item in stream]
        started = time.monotonic()
        for event in events:
            await exchange.publish(
                aio_pika.Message(event.to_json_bytes(), message_id=str(event.id)), routing_key=event.routing_key
            )
        reported = {e.data["problem_id"] for e in stream if e.routing_key == "problems.problem.reported.v1"}
        while True:
            async with clean.connect() as conn:
                count = (
                    await conn.execute(text("SELECT count(*) FROM problems WHERE territory_id IS NOT NULL"))
                ).scalar()
                archived = (await conn.execute(text("SELECT count(*) FROM archive"))).scalar()
            if count == len(reported) and archived == len(events):
                break
            assert time.monotonic() - started < 10, f"only {count} problems, {archived} events after 10 s"
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - started
        assert elapsed <= FRESHNESS, f"{len(events)} events took {elapsed:.2f} s to reach the read models"
        # a redelivered duplicate changes nothing
        await exchange.publish(
            aio_pika.Message(events[0].to_json_bytes(), message_id=str(events[0].id)), routing_key=events[0].routing_key
        )
        await asyncio.sleep(1.0)
        async with clean.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM archive"))).scalar() == len(events)
    finally:
        await connection.close()
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
