"""The transactional outbox and its relay, against the real PostgreSQL and RabbitMQ of the test stack."""

from __future__ import annotations

import asyncio
import json
import uuid

import aio_pika
import pytest
from aiomisc.pytest import TCPProxy
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.broker import UNROUTED_QUEUE, declare_exchanges
from servicekit.events import CONTENT_TYPE, new_event
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.tables import kit_tables
from servicekit.uow import UnitOfWork

from .conftest import SCHEMA, relay_dies_before_marking_sent, widgets

outbox = kit_tables(SCHEMA).outbox


async def _count(engine: AsyncEngine, stmt: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())  # type: ignore[call-overload]


async def _create_widgets(factory: async_sessionmaker[AsyncSession], n: int, key: str) -> list[uuid.UUID]:
    ids = []
    for i in range(n):
        async with UnitOfWork(factory, SCHEMA) as uow:
            widget_id = uuid.uuid4()
            await uow.session.execute(insert(widgets).values(id=widget_id, name=f"w{i}"))
            uow.record(new_event(key, {"widget_id": str(widget_id)}, source=SCHEMA, subject=str(widget_id)))
            await uow.commit()
            ids.append(widget_id)
    return ids


async def _bound_queue(amqp: aio_pika.abc.AbstractConnection, routing_key: str) -> aio_pika.abc.AbstractQueue:
    channel = await amqp.channel()
    exchange = await declare_exchanges(channel)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, routing_key=routing_key)
    return queue


async def _drain_messages(
    queue: aio_pika.abc.AbstractQueue, expected: int, timeout: float = 10
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    messages: list[aio_pika.abc.AbstractIncomingMessage] = []
    async with asyncio.timeout(timeout):
        async with queue.iterator() as incoming:
            async for message in incoming:
                async with message.process():
                    messages.append(message)
                if len(messages) >= expected:
                    break
    return messages


async def _drain(queue: aio_pika.abc.AbstractQueue, expected: int, timeout: float = 10) -> list[dict]:
    return [json.loads(message.body) for message in await _drain_messages(queue, expected, timeout)]


async def test_business_row_and_event_commit_together(
    clean_db: AsyncEngine, session_factory: async_sessionmaker[AsyncSession], unique: str
) -> None:
    [widget_id] = await _create_widgets(session_factory, 1, f"kittest.widget.created_{unique}.v1")

    assert await _count(clean_db, select(func.count()).select_from(widgets)) == 1
    async with clean_db.connect() as conn:
        row = (await conn.execute(select(outbox))).one()
    assert row.routing_key == f"kittest.widget.created_{unique}.v1"
    assert row.published_at is None
    assert row.body["data"] == {"widget_id": str(widget_id)}
    assert row.body["type"] == f"ru.gorod.kittest.widget.created_{unique}.v1"
    assert row.body["source"] == SCHEMA


async def test_rolled_back_unit_of_work_leaves_neither(
    clean_db: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        await uow.session.execute(insert(widgets).values(id=uuid.uuid4(), name="never"))
        uow.record(new_event("kittest.widget.created.v1", {}, source=SCHEMA))
        # leaving without commit rolls back

    async def fails_half_way() -> None:
        async with UnitOfWork(session_factory, SCHEMA) as uow:
            await uow.session.execute(insert(widgets).values(id=uuid.uuid4(), name="never"))
            uow.record(new_event("kittest.widget.created.v1", {}, source=SCHEMA))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fails_half_way()

    assert await _count(clean_db, select(func.count()).select_from(widgets)) == 0
    assert await _count(clean_db, select(func.count()).select_from(outbox)) == 0


async def test_after_commit_callbacks_run_only_once_the_transaction_is_committed(
    clean_db: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    calls: list[str] = []
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        await uow.session.execute(insert(widgets).values(id=uuid.uuid4(), name="kept"))
        uow.after_commit(lambda: calls.append("committed"))
        assert calls == []
        await uow.commit()
        assert calls == ["committed"]
        await uow.commit()  # a second commit of the same unit of work does not call it again
    assert calls == ["committed"]

    async with UnitOfWork(session_factory, SCHEMA) as uow:
        await uow.session.execute(insert(widgets).values(id=uuid.uuid4(), name="dropped"))
        uow.after_commit(lambda: calls.append("rolled back"))
        await uow.rollback()
        await uow.commit()  # nothing left to commit, and the rolled-back callback is gone
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        uow.after_commit(lambda: calls.append("left without commit"))
    assert calls == ["committed"]
    assert await _count(clean_db, select(func.count()).select_from(widgets)) == 1


async def test_relay_publishes_pending_events_and_marks_them_sent(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    kit_settings: ServiceSettings,
    amqp: aio_pika.abc.AbstractConnection,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    queue = await _bound_queue(amqp, key)
    ids = await _create_widgets(session_factory, 5, key)
    relay = OutboxRelay(engine=clean_db, schema=SCHEMA, amqp_url=kit_settings.amqp_url)
    try:
        assert await relay.publish_pending() == 5
        assert await relay.publish_pending() == 0  # nothing twice
    finally:
        await relay.close()

    messages = await _drain_messages(queue, 5)
    bodies = [json.loads(message.body) for message in messages]
    assert [b["data"]["widget_id"] for b in bodies] == [str(i) for i in ids]  # in commit order
    assert await _count(clean_db, select(func.count()).where(outbox.c.published_at.is_(None))) == 0
    for message, body in zip(messages, bodies, strict=True):  # the AMQP properties the relay sets itself
        assert message.message_id == body["id"]
        assert message.content_type == CONTENT_TYPE
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        assert message.routing_key == key
        assert message.timestamp is not None


async def test_relay_is_woken_by_notify_without_waiting_for_the_poll(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    kit_settings: ServiceSettings,
    amqp: aio_pika.abc.AbstractConnection,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    queue = await _bound_queue(amqp, key)
    # A poll interval far longer than the test: only LISTEN/NOTIFY can deliver in time.
    relay = OutboxRelay(engine=clean_db, schema=SCHEMA, amqp_url=kit_settings.amqp_url, poll_interval=600)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(1.0)  # let it do its first (empty) round and start listening
        await _create_widgets(session_factory, 3, key)
        bodies = await _drain(queue, 3, timeout=5)
        assert len(bodies) == 3
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def test_events_wait_out_a_broker_outage_and_are_all_delivered_after(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    amqp: aio_pika.abc.AbstractConnection,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    queue = await _bound_queue(amqp, key)  # the test's own connection bypasses the proxy
    proxy = TCPProxy("127.0.0.1", 5672)
    await proxy.start()
    vhost = amqp.url.path.lstrip("/")
    relay = OutboxRelay(
        engine=clean_db,
        schema=SCHEMA,
        amqp_url=f"amqp://guest:guest@127.0.0.1:{proxy.proxy_port}/{vhost}",
        poll_interval=0.2,
        publish_timeout=2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await _create_widgets(session_factory, 3, key)
        assert len(await _drain(queue, 3)) == 3  # flowing before the outage

        await proxy.close()  # the broker is gone: connections cut, new ones refused
        during = await _create_widgets(session_factory, 4, key)
        await asyncio.sleep(1.5)
        pending = await _count(clean_db, select(func.count()).where(outbox.c.published_at.is_(None)))
        assert pending == 4, "events written during the outage must stay pending"

        await proxy.start()  # back
        bodies = await _drain(queue, 4, timeout=60)
        assert sorted(b["data"]["widget_id"] for b in bodies) == sorted(str(i) for i in during)
        # The broker confirms before the relay commits "sent": give that commit a moment.
        async with asyncio.timeout(10):
            while await _count(clean_db, select(func.count()).where(outbox.c.published_at.is_(None))):
                await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)
        await proxy.close()


async def test_relay_that_dies_before_marking_rows_sent_publishes_them_again(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    kit_settings: ServiceSettings,
    amqp: aio_pika.abc.AbstractConnection,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    queue = await _bound_queue(amqp, key)
    await _create_widgets(session_factory, 2, key)
    relay = OutboxRelay(engine=clean_db, schema=SCHEMA, amqp_url=kit_settings.amqp_url)
    try:
        async with relay_dies_before_marking_sent(clean_db):
            with pytest.raises(Exception, match="relay dies here"):
                await relay.publish_pending()
        assert await relay.publish_pending() == 2
    finally:
        await relay.close()

    bodies = await _drain(queue, 4)
    ids = [b["id"] for b in bodies]
    assert len(ids) == 4
    assert len(set(ids)) == 2, "each event published twice, with the same id"


async def test_an_event_no_queue_is_bound_for_yet_is_kept_not_dropped(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    kit_settings: ServiceSettings,
    amqp: aio_pika.abc.AbstractConnection,
    unique: str,
) -> None:
    """Published before any consumer exists: the exchange's alternate exchange keeps it for a person."""
    key = f"kittest.widget.orphaned_{unique}.v1"
    await _create_widgets(session_factory, 1, key)
    relay = OutboxRelay(engine=clean_db, schema=SCHEMA, amqp_url=kit_settings.amqp_url)
    try:
        assert await relay.publish_pending() == 1
    finally:
        await relay.close()
    channel = await amqp.channel()
    unrouted = await channel.get_queue(UNROUTED_QUEUE)
    found = []
    async with asyncio.timeout(10):
        while not found:
            message = await unrouted.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            if message.routing_key == key:
                await message.ack()
                found.append(json.loads(message.body))
            else:
                await message.nack(requeue=True)
    assert found[0]["type"] == f"ru.gorod.{key}"
