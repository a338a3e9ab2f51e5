"""The consumer runner and its inbox: effect once, retries with back-off, dead letters with history."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Protocol

import aio_pika
import pytest
from asgi_correlation_id import correlation_id
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.broker import QueueTopology, declare_exchanges, declare_queue
from servicekit.consumer import (
    ATTEMPT_HEADER,
    ERRORS_HEADER,
    LANES,
    ORIGINAL_ROUTING_KEY_HEADER,
    ConsumerRunner,
    Handler,
    Subscription,
)
from servicekit.events import CloudEvent, new_event
from servicekit.logs import traceparent_var
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.uow import UnitOfWork

from .conftest import SCHEMA, effects, relay_dies_before_marking_sent, widgets


class RunConsumer(Protocol):
    def __call__(self, handler: Handler, routing_key: str, *, lanes: int = ...) -> Awaitable[ConsumerRunner]: ...


@pytest.fixture
async def run_consumer(
    kit_settings: ServiceSettings, session_factory: async_sessionmaker[AsyncSession], unique: str
) -> AsyncIterator[RunConsumer]:
    """Start a consumer of ``kittest.<unique>.<purpose>`` bound to one routing key; stopped after the test."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(handler: Handler, routing_key: str, *, lanes: int = LANES) -> ConsumerRunner:
        runner = ConsumerRunner(
            service_name=SCHEMA,
            schema=SCHEMA,
            amqp_url=kit_settings.amqp_url,
            session_factory=session_factory,
            subscriptions=[Subscription(f"{SCHEMA}.test_{unique}", (routing_key,), handler)],
            prefetch=8,
            retry_delays=(0.05, 0.1),
            delivery_limit=3,
            lanes=lanes,
        )
        tasks.append(asyncio.create_task(runner.run(stop)))
        await asyncio.wait_for(runner.ready.wait(), timeout=10)
        return runner

    yield start
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)


async def record_effect(event: CloudEvent, uow: UnitOfWork) -> None:
    await uow.session.execute(insert(effects).values(event_id=event.id, n=1))


async def _effects(engine: AsyncEngine) -> list[uuid.UUID]:
    async with engine.connect() as conn:
        return [row.event_id for row in await conn.execute(select(effects.c.event_id))]


async def _eventually(predicate: Callable[[], Awaitable[bool]], timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not await predicate():
            await asyncio.sleep(0.05)


async def _publish_raw(amqp: aio_pika.abc.AbstractConnection, routing_key: str, body: bytes) -> None:
    channel = await amqp.channel()
    exchange = await declare_exchanges(channel)
    await exchange.publish(aio_pika.Message(body=body, message_id=str(uuid.uuid4())), routing_key=routing_key)
    await channel.close()


async def test_outbox_to_inbox_end_to_end(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    kit_settings: ServiceSettings,
    run_consumer: RunConsumer,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    await run_consumer(record_effect, key)
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        await uow.session.execute(insert(widgets).values(id=uuid.uuid4(), name="w"))
        events = [new_event(key, {"n": i}, source=SCHEMA) for i in range(10)]
        for event in events:
            uow.record(event)
        await uow.commit()
    relay = OutboxRelay(engine=clean_db, schema=SCHEMA, amqp_url=kit_settings.amqp_url)
    await relay.publish_pending()
    await relay.close()

    async def all_handled() -> bool:
        return len(await _effects(clean_db)) == 10

    await _eventually(all_handled)
    assert sorted(await _effects(clean_db)) == sorted(e.id for e in events)


async def test_the_same_event_delivered_twice_has_one_effect(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    await run_consumer(record_effect, key)
    event = new_event(key, {"n": 1}, source=SCHEMA)
    other = new_event(key, {"n": 2}, source=SCHEMA)
    for body in (event, event, other, event):
        await _publish_raw(amqp, key, body.to_json_bytes())

    async def both_handled() -> bool:
        return len(await _effects(clean_db)) >= 2

    await _eventually(both_handled)
    await asyncio.sleep(0.5)  # give any duplicate the time to (wrongly) land
    assert sorted(await _effects(clean_db)) == sorted([event.id, other.id])
    async with clean_db.connect() as conn:
        inbox_rows = (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.inbox"))).scalar_one()
    assert inbox_rows == 2


async def test_relay_crash_before_marking_sent_still_means_one_effect(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    kit_settings: ServiceSettings,
    run_consumer: RunConsumer,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    await run_consumer(record_effect, key)
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        events = [new_event(key, {"n": i}, source=SCHEMA) for i in range(3)]
        for event in events:
            uow.record(event)
        await uow.commit()
    relay = OutboxRelay(engine=clean_db, schema=SCHEMA, amqp_url=kit_settings.amqp_url)
    try:
        async with relay_dies_before_marking_sent(clean_db):
            with pytest.raises(Exception, match="relay dies here"):
                await relay.publish_pending()  # published, not marked
        assert await relay.publish_pending() == 3  # the restarted relay publishes them again
    finally:
        await relay.close()

    async def handled() -> bool:
        return len(await _effects(clean_db)) >= 3

    await _eventually(handled)
    await asyncio.sleep(0.5)
    assert sorted(await _effects(clean_db)) == sorted(e.id for e in events)


async def _dead_letters(
    amqp: aio_pika.abc.AbstractConnection, queue_name: str, expected: int
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    channel = await amqp.channel()
    queue = await channel.get_queue(f"{queue_name}.dlq")
    found: list[aio_pika.abc.AbstractIncomingMessage] = []
    async with asyncio.timeout(15):
        while len(found) < expected:
            message = await queue.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            await message.ack()
            found.append(message)
    return found


async def test_a_handler_that_always_fails_ends_in_the_dlq_with_its_history(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    calls: list[uuid.UUID] = []

    async def always_fails(event: CloudEvent, uow: UnitOfWork) -> None:
        await record_effect(event, uow)  # its effect must be rolled back each time
        calls.append(event.id)
        raise ValueError("the handler cannot cope")

    await run_consumer(always_fails, key)
    event = new_event(key, {"n": 1}, source=SCHEMA)
    await _publish_raw(amqp, key, event.to_json_bytes())

    [dead] = await _dead_letters(amqp, f"{SCHEMA}.test_{unique}", 1)
    assert calls == [event.id] * 3, "one try and two retries (retry_delays has two steps)"
    assert CloudEvent.model_validate_json(dead.body).id == event.id
    history = [json.loads(item) for item in dead.headers[ERRORS_HEADER]]  # type: ignore[union-attr]
    assert [h["attempt"] for h in history] == [1, 2, 3]
    assert all("the handler cannot cope" in h["error"] for h in history)
    assert dead.headers[ATTEMPT_HEADER] == 4
    assert dead.headers[ORIGINAL_ROUTING_KEY_HEADER] == key
    assert await _effects(clean_db) == []
    async with clean_db.connect() as conn:
        assert (await conn.execute(text(f"SELECT count(*) FROM {SCHEMA}.inbox"))).scalar_one() == 0


async def test_a_handler_that_fails_once_succeeds_on_retry(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    calls: list[uuid.UUID] = []

    async def flaky(event: CloudEvent, uow: UnitOfWork) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise ConnectionError("a passing fault")
        await record_effect(event, uow)

    await run_consumer(flaky, key)
    event = new_event(key, {"n": 1}, source=SCHEMA)
    await _publish_raw(amqp, key, event.to_json_bytes())

    async def handled() -> bool:
        return len(await _effects(clean_db)) == 1

    await _eventually(handled)
    assert calls == [event.id, event.id]


async def test_a_malformed_message_goes_straight_to_the_dlq(
    run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    await run_consumer(record_effect, key)
    await _publish_raw(amqp, key, b'{"not": "a cloud event"}')

    [dead] = await _dead_letters(amqp, f"{SCHEMA}.test_{unique}", 1)
    assert dead.body == b'{"not": "a cloud event"}'
    [entry] = [json.loads(item) for item in dead.headers[ERRORS_HEADER]]  # type: ignore[union-attr]
    assert "validation error" in entry["error"]


async def test_queue_delivery_limit_dead_letters_a_message_nobody_can_ack(
    amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    """A consumer that keeps dying mid-message (here: nack with requeue) cannot loop forever."""
    topology = QueueTopology(
        name=f"{SCHEMA}.limit_{unique}",
        routing_keys=(f"kittest.limit_{unique}.x.v1",),
        delivery_limit=2,
        retry_delays=(),
    )
    channel = await amqp.channel()
    queue = await declare_queue(channel, topology)
    await _publish_raw(amqp, f"kittest.limit_{unique}.x.v1", b"poison")
    for _ in range(3):
        async with asyncio.timeout(5):
            while (message := await queue.get(fail=False)) is None:
                await asyncio.sleep(0.05)
        await message.nack(requeue=True)
    [dead] = await _dead_letters(amqp, topology.name, 1)
    assert dead.body == b"poison"
    assert await queue.get(fail=False) is None


async def test_request_id_and_traceparent_travel_from_the_request_to_the_handler(
    clean_db: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    kit_settings: ServiceSettings,
    run_consumer: RunConsumer,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    seen: list[tuple[str | None, str | None]] = []

    async def remember_trace(event: CloudEvent, uow: UnitOfWork) -> None:
        seen.append((correlation_id.get(), traceparent_var.get()))

    await run_consumer(remember_trace, key)
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    request_token = correlation_id.set("req-" + unique)
    trace_token = traceparent_var.set(traceparent)
    try:  # as if inside an HTTP request
        async with UnitOfWork(session_factory, SCHEMA) as uow:
            uow.record(new_event(key, {}, source=SCHEMA))
            await uow.commit()
    finally:
        correlation_id.reset(request_token)
        traceparent_var.reset(trace_token)
    relay = OutboxRelay(engine=clean_db, schema=SCHEMA, amqp_url=kit_settings.amqp_url)
    await relay.publish_pending()
    await relay.close()

    async def handled() -> bool:
        return bool(seen)

    await _eventually(handled)
    assert seen == [("req-" + unique, traceparent)]


async def test_the_worker_runs_housekeeping_jobs_in_their_own_transactions(
    clean_db: AsyncEngine, kit_settings: ServiceSettings
) -> None:
    from servicekit.worker import run_worker

    async def purge_widgets(session: AsyncSession) -> int:
        result = await session.execute(text(f"DELETE FROM {SCHEMA}.widgets WHERE name = 'stale'"))
        return int(getattr(result, "rowcount", 0) or 0)

    async with clean_db.begin() as conn:
        await conn.execute(insert(widgets), [{"id": uuid.uuid4(), "name": n} for n in ("stale", "stale", "fresh")])
    stop = asyncio.Event()
    worker = asyncio.create_task(
        run_worker(kit_settings, [], housekeeping=[purge_widgets], stop=stop, housekeeping_interval=0.1)
    )

    async def purged() -> bool:
        async with clean_db.connect() as conn:
            names = (await conn.execute(select(widgets.c.name))).scalars().all()
        return names == ["fresh"]

    try:
        await _eventually(purged)
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=15)


async def test_stopping_lets_a_handler_under_way_commit_first(
    clean_db: AsyncEngine,
    kit_settings: ServiceSettings,
    session_factory: async_sessionmaker[AsyncSession],
    amqp: aio_pika.abc.AbstractConnection,
    unique: str,
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    started = asyncio.Event()

    async def slow(event: CloudEvent, uow: UnitOfWork) -> None:
        started.set()
        await asyncio.sleep(0.5)
        await record_effect(event, uow)

    runner = ConsumerRunner(
        service_name=SCHEMA,
        schema=SCHEMA,
        amqp_url=kit_settings.amqp_url,
        session_factory=session_factory,
        subscriptions=[Subscription(f"{SCHEMA}.slow_{unique}", (key,), slow)],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(runner.ready.wait(), timeout=10)
    event = new_event(key, {}, source=SCHEMA)
    await _publish_raw(amqp, key, event.to_json_bytes())
    await asyncio.wait_for(started.wait(), timeout=10)
    stop.set()  # while the handler sleeps
    await asyncio.wait_for(task, timeout=15)

    assert await _effects(clean_db) == [event.id]
    channel = await amqp.channel()
    queue = await channel.declare_queue(f"{SCHEMA}.slow_{unique}", passive=True)
    assert queue.declaration_result.message_count == 0, "acknowledged, not left for redelivery"


# --- group commit ----------------------------------------------------------------------------------


class Gate:
    """Holds the first event in its handler until the test has queued the rest behind it.

    With one lane, everything published meanwhile waits in the runner's buffer and is then taken as one group."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._open = asyncio.Event()
        self.first_arrived = asyncio.Event()
        self.transactions: dict[uuid.UUID, int] = {}

    async def __call__(self, event: CloudEvent, uow: UnitOfWork) -> None:
        if not self.first_arrived.is_set():
            self.first_arrived.set()
            await self._open.wait()
        txid = (await uow.session.execute(text("SELECT txid_current()"))).scalar_one()
        await self._handler(event, uow)
        self.transactions[event.id] = txid

    def open(self) -> None:
        self._open.set()


async def _queue_behind_the_gate(
    gate: Gate, amqp: aio_pika.abc.AbstractConnection, key: str, bodies: list[bytes], queue: str
) -> None:
    await _publish_raw(amqp, key, new_event(key, {"n": 0}, source=SCHEMA).to_json_bytes())
    await asyncio.wait_for(gate.first_arrived.wait(), timeout=10)
    for body in bodies:
        await _publish_raw(amqp, key, body)
    channel = await amqp.channel()
    try:
        # Published is not yet delivered: wait until the broker has handed every message to the consumer.
        async with asyncio.timeout(10):
            while (await channel.declare_queue(queue, passive=True)).declaration_result.message_count:
                await asyncio.sleep(0.02)
    finally:
        await channel.close()
    await asyncio.sleep(0.1)
    gate.open()


async def test_events_waiting_together_commit_in_one_transaction(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    gate = Gate(record_effect)
    await run_consumer(gate, key, lanes=1)
    events = [new_event(key, {"n": i}, source=SCHEMA) for i in range(1, 7)]
    await _queue_behind_the_gate(gate, amqp, key, [e.to_json_bytes() for e in events], f"{SCHEMA}.test_{unique}")

    async def all_handled() -> bool:
        return len(await _effects(clean_db)) == 7

    await _eventually(all_handled)
    assert len({gate.transactions[e.id] for e in events}) == 1, "the six waiting events share one commit"


async def test_a_failing_event_in_a_group_is_retried_alone_and_the_rest_land_once(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    calls: list[uuid.UUID] = []

    async def fails_on_poison(event: CloudEvent, uow: UnitOfWork) -> None:
        calls.append(event.id)
        await record_effect(event, uow)
        if event.data.get("poison"):
            raise ValueError("this one cannot be handled")

    gate = Gate(fails_on_poison)
    await run_consumer(gate, key, lanes=1)
    good = [new_event(key, {"n": i}, source=SCHEMA) for i in range(1, 5)]
    poison = new_event(key, {"n": 99, "poison": True}, source=SCHEMA)
    bodies = [e.to_json_bytes() for e in (good[0], good[1], poison, good[2], good[3])]
    await _queue_behind_the_gate(gate, amqp, key, bodies, f"{SCHEMA}.test_{unique}")

    [dead] = await _dead_letters(amqp, f"{SCHEMA}.test_{unique}", 1)
    assert CloudEvent.model_validate_json(dead.body).id == poison.id
    effects_now = await _effects(clean_db)
    assert {e.id for e in good} <= set(effects_now)
    assert poison.id not in effects_now, "the failing event's effect was rolled back every time"
    assert len(effects_now) == 5, "the first event and the four good ones, each exactly once"
    assert calls.count(poison.id) == 1 + 1 + 2, "in the group, alone after it, then two retries"


async def test_the_same_event_twice_in_one_group_has_one_effect_and_both_copies_are_acked(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    gate = Gate(record_effect)
    await run_consumer(gate, key, lanes=1)
    event = new_event(key, {"n": 1}, source=SCHEMA)
    other = new_event(key, {"n": 2}, source=SCHEMA)
    bodies = [b.to_json_bytes() for b in (event, other, event)]
    await _queue_behind_the_gate(gate, amqp, key, bodies, f"{SCHEMA}.test_{unique}")

    async def handled() -> bool:
        return len(await _effects(clean_db)) >= 3

    await _eventually(handled)
    await asyncio.sleep(0.3)
    effects_now = await _effects(clean_db)
    assert effects_now.count(event.id) == 1
    assert effects_now.count(other.id) == 1
    channel = await amqp.channel()
    try:
        queue = await channel.declare_queue(f"{SCHEMA}.test_{unique}", passive=True)
        assert queue.declaration_result.message_count == 0
    finally:
        await channel.close()


async def test_a_malformed_message_in_a_group_is_dead_lettered_and_the_rest_commit(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"
    gate = Gate(record_effect)
    await run_consumer(gate, key, lanes=1)
    events = [new_event(key, {"n": i}, source=SCHEMA) for i in range(1, 4)]
    bodies = [events[0].to_json_bytes(), b"not json at all", events[1].to_json_bytes(), events[2].to_json_bytes()]
    await _queue_behind_the_gate(gate, amqp, key, bodies, f"{SCHEMA}.test_{unique}")

    [dead] = await _dead_letters(amqp, f"{SCHEMA}.test_{unique}", 1)
    assert dead.body == b"not json at all"

    async def handled() -> bool:
        return len(await _effects(clean_db)) == 4

    await _eventually(handled)
    assert len({gate.transactions[e.id] for e in events}) == 1


async def test_a_handler_that_commits_on_its_own_is_refused_and_its_event_not_lost(
    clean_db: AsyncEngine, run_consumer: RunConsumer, amqp: aio_pika.abc.AbstractConnection, unique: str
) -> None:
    key = f"kittest.widget.created_{unique}.v1"

    async def commits(event: CloudEvent, uow: UnitOfWork) -> None:
        await record_effect(event, uow)
        await uow.commit()

    await run_consumer(commits, key)
    event = new_event(key, {"n": 1}, source=SCHEMA)
    await _publish_raw(amqp, key, event.to_json_bytes())

    [dead] = await _dead_letters(amqp, f"{SCHEMA}.test_{unique}", 1)
    assert CloudEvent.model_validate_json(dead.body).id == event.id
    assert "must not commit" in json.loads(dead.headers[ERRORS_HEADER][0])["error"]  # type: ignore[index]
    assert await _effects(clean_db) == []


async def test_a_group_done_early_is_not_acknowledged_past_a_message_still_being_handled(
    clean_db: AsyncEngine,
    kit_settings: ServiceSettings,
    session_factory: async_sessionmaker[AsyncSession],
    amqp: aio_pika.abc.AbstractConnection,
    unique: str,
) -> None:
    """Acks go out many at a time ("everything up to tag N"). With two lanes, a later group can commit while an
    earlier message is still in its handler: acknowledging the later group must not acknowledge that one too,
    or a crash now would lose it."""
    key = f"kittest.widget.created_{unique}.v1"
    queue = f"{SCHEMA}.test_{unique}"

    def runner(handler: Handler) -> ConsumerRunner:
        return ConsumerRunner(
            service_name=SCHEMA,
            schema=SCHEMA,
            amqp_url=kit_settings.amqp_url,
            session_factory=session_factory,
            subscriptions=[Subscription(queue, (key,), handler)],
            prefetch=8,
            retry_delays=(0.05,),
            delivery_limit=3,
            lanes=2,
            drain_timeout=0.2,
        )

    gate = Gate(record_effect)
    stop = asyncio.Event()
    first = runner(gate)
    running = asyncio.create_task(first.run(stop))
    await asyncio.wait_for(first.ready.wait(), timeout=10)
    held = new_event(key, {"n": 0}, source=SCHEMA)
    await _publish_raw(amqp, key, held.to_json_bytes())
    await asyncio.wait_for(gate.first_arrived.wait(), timeout=10)  # one lane is now stuck on it
    later = [new_event(key, {"n": i}, source=SCHEMA) for i in range(1, 6)]
    for event in later:
        await _publish_raw(amqp, key, event.to_json_bytes())

    async def later_committed() -> bool:
        return len(await _effects(clean_db)) == len(later)

    await _eventually(later_committed)  # the other lane handled and committed them
    stop.set()  # the worker dies with the held message still in its handler
    await asyncio.wait_for(running, timeout=15)

    async def ready_in_queue() -> int:
        channel = await amqp.channel()
        try:
            return (await channel.declare_queue(queue, passive=True)).declaration_result.message_count or 0
        finally:
            await channel.close()

    async def all_returned() -> bool:
        return await ready_in_queue() == 1 + len(later)

    # All six come back: the five committed ones were waiting for the held one to be acknowledged in order. The
    # broker puts a closed channel's unacknowledged messages back a moment after the close (a quorum queue
    # through its log), so look until they are all there; acknowledged ones would never come back.
    try:
        await _eventually(all_returned)
    except TimeoutError:
        pytest.fail(f"{await ready_in_queue()} of 6 came back: the held message was acknowledged without its effect")
    assert held.id not in await _effects(clean_db)

    stop = asyncio.Event()
    second = runner(record_effect)
    running = asyncio.create_task(second.run(stop))

    async def all_committed() -> bool:
        return len(await _effects(clean_db)) == len(later) + 1

    await _eventually(all_committed)
    await asyncio.sleep(0.2)  # its acknowledgement is on the wire
    stop.set()
    await asyncio.wait_for(running, timeout=15)
    assert sorted(map(str, await _effects(clean_db))) == sorted(str(e.id) for e in [held, *later]), "once each"
    assert await ready_in_queue() == 0, "acknowledged, not returned when the connection closed"
