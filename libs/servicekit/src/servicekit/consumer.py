"""The consumer runner: handles events from the service's quorum queues, exactly once in effect.

For each message: the inbox row ``(event id, handler)`` and the handler's effect commit in one unit of
work; a duplicate finds its inbox row and is acknowledged without effect. The message is acknowledged only
after commit. A handler that raises is retried after the configured back-off (the message waits in a TTL
queue, then returns), and after the last retry goes to ``<queue>.dlq`` with the history of its failures.
A consumer that dies mid-message leaves it unacknowledged: the broker redelivers it, and after the quorum
queue's delivery limit dead-letters it too. Nothing is dropped silently.

Group commit: the messages waiting in a queue's buffer are taken together by a "lane" and handled in ONE
transaction (one inbox claim for all of them, every handler, one commit), then acknowledged. A commit per
message costs several database round trips; under load that, not the handlers, is the limit. While a group
commits, the next one gathers, so groups grow with the load by themselves. If any handler of a group raises,
the group is rolled back and its messages are handled one by one, so only the failing one is retried or
dead-lettered. Handlers therefore must not commit themselves, and must not rely on the order of events: a
retried event comes back later, and with more than one lane, groups run concurrently.

Acknowledgements go out in delivery order, many in one ``basic.ack`` with ``multiple``: a message is
acknowledged only once it and every message delivered before it on its channel are settled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
    DeliveryMode,
)
from asgi_correlation_id import correlation_id
from pydantic import ValidationError
from sqlalchemy import Executable, Text, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.broker import DEAD_LETTER_EXCHANGE, QueueTopology, connect, declare_queue
from servicekit.events import CloudEvent
from servicekit.logs import REQUEST_ID_HEADER, TRACEPARENT_HEADER, traceparent_var, valid_traceparent
from servicekit.tables import kit_tables
from servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, UnitOfWork], Awaitable[None]]
ATTEMPT_HEADER = "x-gorod-attempt"
ERRORS_HEADER = "x-gorod-errors"
ORIGINAL_ROUTING_KEY_HEADER = "x-gorod-original-routing-key"
MAX_BACKOFF = 30.0
DRAIN_TIMEOUT = 10.0
LANES = 1
"""Concurrent groups per queue. One is fastest when handlers only touch the database (measured in
``bench/events.py``): the next group gathers while the current one commits, and the groups are larger. More
lanes pay off only for handlers that wait on something slow outside the database."""


class HandlerUnitOfWork(UnitOfWork):
    """The unit of work a handler gets: the runner commits it, with the inbox claims of its whole group.

    A handler that committed on its own would commit the claims of events not yet handled; if a later one
    then failed, the retry would find them claimed and skip them: lost. So it may not."""

    async def commit(self) -> None:
        raise RuntimeError("an event handler must not commit: the consumer runner commits after it returns")

    async def commit_group(self) -> None:
        await super().commit()


class _Settlement:
    """Acknowledges one channel's deliveries in delivery order, as many as possible in one frame.

    ``basic.ack`` with ``multiple`` acknowledges every unacknowledged delivery up to a tag. That is safe only
    when none of them is still being handled, so deliveries are queued in order and popped from the front once
    settled. A message rerouted to a retry queue or nacked is settled by its own frame and only popped here."""

    _PENDING, _ACK, _DONE = 0, 1, 2

    def __init__(self) -> None:
        self._order: deque[AbstractIncomingMessage] = deque()
        self._state: dict[int, int] = {}
        # Two lanes flushing at once must send their frames in tag order: an "up to 8" that overtook an
        # "up to 5" would leave 5 unknown to the broker, which closes the channel for it.
        self._sending = asyncio.Lock()

    def delivered(self, message: AbstractIncomingMessage) -> None:
        self._order.append(message)
        self._state[_tag(message)] = self._PENDING

    async def ack(self, messages: Iterable[AbstractIncomingMessage]) -> None:
        """These messages' effects are committed: acknowledge them as soon as the order allows."""
        for message in messages:
            self._state[_tag(message)] = self._ACK
        await self._flush()

    async def settled_alone(self, message: AbstractIncomingMessage) -> None:
        """The message was nacked or acknowledged by itself: only forget it."""
        self._state[_tag(message)] = self._DONE
        await self._flush()

    async def _flush(self) -> None:
        async with self._sending:
            last_to_ack: AbstractIncomingMessage | None = None
            while self._order and self._state[_tag(self._order[0])] != self._PENDING:
                message = self._order.popleft()
                if self._state.pop(_tag(message)) == self._ACK:
                    last_to_ack = message
            if last_to_ack is not None:
                await last_to_ack.ack(multiple=True)


def _tag(message: AbstractIncomingMessage) -> int:
    tag = message.delivery_tag
    if tag is None:
        raise ValueError("a consumed message without a delivery tag")
    return tag


@cache
def _inbox_claim(schema: str) -> Executable:
    """Claim many events for one handler in one statement; the claimed ids come back, duplicates do not.

    The events come as two arrays unnested into rows: one SQL text for any group size, where a multi-row VALUES
    differs by row count and each count costs a fresh cache key, compilation and server-side prepare."""
    inbox = kit_tables(schema).inbox
    events = (
        func.unnest(
            bindparam("event_ids", type_=ARRAY(UUID(as_uuid=True))),
            bindparam("event_types", type_=ARRAY(Text)),
        )
        .table_valued("event_id", "event_type")
        .render_derived(name="e", with_types=False)
    )
    rows = select(events.c.event_id, bindparam("handler", type_=Text), events.c.event_type)
    return (
        insert(inbox)
        .from_select(["event_id", "handler", "event_type"], rows)
        .on_conflict_do_nothing()
        .returning(inbox.c.event_id)
    )


@dataclass(frozen=True)
class _Consuming:
    """What every lane of one subscription shares on the current connection."""

    subscription: Subscription
    topology: QueueTopology
    publisher: AbstractChannel
    buffer: asyncio.Queue[AbstractIncomingMessage]
    settlement: _Settlement


@dataclass(frozen=True)
class Subscription:
    """``queue`` is ``<consumer service>.<purpose>``; ``routing_keys`` may use topic wildcards."""

    queue: str
    routing_keys: tuple[str, ...]
    handler: Handler

    @property
    def handler_name(self) -> str:
        return self.queue


class ConsumerRunner:
    def __init__(
        self,
        *,
        service_name: str,
        schema: str,
        amqp_url: str,
        session_factory: async_sessionmaker[AsyncSession],
        subscriptions: Sequence[Subscription],
        prefetch: int = 32,
        retry_delays: tuple[float, ...] = (1.0, 10.0, 60.0, 300.0),
        delivery_limit: int = 10,
        lanes: int = LANES,
        drain_timeout: float = DRAIN_TIMEOUT,
    ) -> None:
        for subscription in subscriptions:
            if not subscription.queue.startswith(f"{service_name}."):
                raise ValueError(f"queue {subscription.queue!r} must be named <{service_name}>.<purpose>")
        self._schema = schema
        self._amqp_url = amqp_url
        self._session_factory = session_factory
        self._subscriptions = list(subscriptions)
        self._prefetch = prefetch
        self._retry_delays = retry_delays
        self._delivery_limit = delivery_limit
        self._lanes = max(1, lanes)
        self._drain_timeout = drain_timeout
        self._lane_tasks: list[asyncio.Task[None]] = []
        self.ready = asyncio.Event()
        """Set once every queue is declared and consumed (tests and readiness wait on it)."""
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._consumers: list[tuple[AbstractQueue, str]] = []

    def topology(self, subscription: Subscription) -> QueueTopology:
        return QueueTopology(
            name=subscription.queue,
            routing_keys=subscription.routing_keys,
            delivery_limit=self._delivery_limit,
            retry_delays=self._retry_delays,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; reconnect with back-off whenever the broker goes away."""
        failures = 0
        while not stop.is_set():
            connection: AbstractConnection | None = None
            try:
                connection = await connect(self._amqp_url)
                lost = asyncio.Event()
                connection.close_callbacks.add(lambda *_args, event=lost: event.set())
                await self._start(connection)
                failures = 0
                self.ready.set()
                stopped = asyncio.create_task(stop.wait())
                dropped = asyncio.create_task(lost.wait())
                await asyncio.wait({stopped, dropped}, return_when=asyncio.FIRST_COMPLETED)
                stopped.cancel()
                dropped.cancel()
                if stop.is_set():
                    await self._drain(self._drain_timeout)
            except Exception as error:
                failures += 1
                delay = min(MAX_BACKOFF, 0.2 * 2**failures)
                log.warning("consumer connection failed, retrying in %.1fs: %r", delay, error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
            finally:
                self.ready.clear()
                await self._stop_lanes()
                if connection is not None and not connection.is_closed:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection.close(), timeout=5)

    async def _start(self, connection: AbstractConnection) -> None:
        publisher = await connection.channel(publisher_confirms=True)
        self._consumers = []
        for subscription in self._subscriptions:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=self._prefetch)
            topology = self.topology(subscription)
            queue = await declare_queue(channel, topology)
            consuming = _Consuming(subscription, topology, publisher, asyncio.Queue(), _Settlement())
            for _ in range(self._lanes):
                lane = asyncio.create_task(self._lane(consuming), name=f"consumer lane {subscription.queue}")
                self._lane_tasks.append(lane)
            tag = await queue.consume(self._callback(consuming))
            self._consumers.append((queue, tag))

    async def _stop_lanes(self) -> None:
        """Messages still buffered were never acked: the broker redelivers them on the next connection."""
        tasks, self._lane_tasks = self._lane_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight = 0
        self._idle.set()

    async def _drain(self, timeout: float) -> None:
        """On stop: take no new messages, and let the handlers under way commit and ack before closing.

        What does not finish in time is left unacknowledged and will be redelivered: never lost."""
        for queue, tag in self._consumers:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=timeout)

    def _callback(self, consuming: _Consuming) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            self._in_flight += 1
            self._idle.clear()
            consuming.settlement.delivered(message)
            consuming.buffer.put_nowait(message)

        return on_message

    def _done(self, count: int) -> None:
        self._in_flight -= count
        if self._in_flight <= 0:
            self._in_flight = 0
            self._idle.set()

    async def _lane(self, consuming: _Consuming) -> None:
        """Take whatever is waiting (at least one message, at most a prefetch's worth) and handle it as a group."""
        buffer = consuming.buffer
        while True:
            group = [await buffer.get()]
            while len(group) < self._prefetch and not buffer.empty():
                group.append(buffer.get_nowait())
            try:
                if len(group) == 1:
                    await self._handle(consuming, group[0])
                else:
                    await self._handle_group(consuming, group)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Acking or rerouting failed (the channel is going away): unacked messages come back by themselves.
                log.exception("consumer lane of %s failed on a group of %d", consuming.subscription.queue, len(group))
            finally:
                self._done(len(group))

    async def _handle_group(self, consuming: _Consuming, messages: list[AbstractIncomingMessage]) -> None:
        subscription = consuming.subscription
        parsed: list[tuple[AbstractIncomingMessage, CloudEvent]] = []
        for message in messages:
            try:
                parsed.append((message, CloudEvent.model_validate_json(message.body)))
            except ValidationError as error:
                await self._reroute(consuming, message, error, dead_letter=True)
        if not parsed:
            return
        try:
            await self._apply(subscription, parsed)
        except Exception as error:
            log.info(
                "a group of %d events failed in %s (%r); handling them one by one",
                len(parsed),
                subscription.handler_name,
                error,
            )
            for message, _ in parsed:
                await self._handle(consuming, message)
            return
        await consuming.settlement.ack(message for message, _ in parsed)

    async def _handle(self, consuming: _Consuming, message: AbstractIncomingMessage) -> None:
        subscription, topology = consuming.subscription, consuming.topology
        headers = message.headers or {}
        _enter_trace_context(message)
        try:
            event = CloudEvent.model_validate_json(message.body)
        except ValidationError as error:
            # A malformed message will never succeed: straight to the DLQ, kept for a person to look at.
            await self._reroute(consuming, message, error, dead_letter=True)
            return
        try:
            await self._apply(subscription, [(message, event)])
        except Exception as error:
            attempt = _header_int(headers.get(ATTEMPT_HEADER), default=1)
            dead = attempt > len(topology.retry_delays)
            log.warning(
                "handler %s failed on event %s (attempt %d)%s: %r",
                subscription.handler_name,
                event.id,
                attempt,
                ", dead-lettering" if dead else "",
                error,
            )
            await self._reroute(consuming, message, error, dead_letter=dead)
            return
        await consuming.settlement.ack([message])

    async def _apply(
        self, subscription: Subscription, parsed: list[tuple[AbstractIncomingMessage, CloudEvent]]
    ) -> None:
        """One transaction: claim every event in the inbox at once, run the handler on those claimed, commit."""
        unique = {event.id: (message, event) for message, event in reversed(parsed)}  # the first delivery wins
        async with HandlerUnitOfWork(self._session_factory, self._schema) as uow:
            claimed = await uow.session.execute(
                _inbox_claim(self._schema),
                {
                    "handler": subscription.handler_name,
                    "event_ids": list(unique),
                    "event_types": [event.type for _, event in unique.values()],
                },
            )
            fresh = set(claimed.scalars())
            for message, event in unique.values():
                if event.id not in fresh:
                    log.info("event %s already handled by %s, skipped", event.id, subscription.handler_name)
                    continue
                _enter_trace_context(message)
                await subscription.handler(event, uow)
            await uow.commit_group()

    async def _reroute(
        self,
        consuming: _Consuming,
        message: AbstractIncomingMessage,
        error: BaseException,
        *,
        dead_letter: bool,
    ) -> None:
        """Move the message to its next retry queue or to the DLQ, with its failure history; then ack."""
        topology = consuming.topology
        headers: dict[str, Any] = dict(message.headers or {})
        attempt = _header_int(headers.get(ATTEMPT_HEADER), default=1)
        history = _history(headers.get(ERRORS_HEADER))
        history.append(
            json.dumps(
                {"attempt": attempt, "at": datetime.now(UTC).isoformat(), "error": repr(error)[:500]},
                ensure_ascii=False,
            )
        )
        headers[ATTEMPT_HEADER] = attempt + 1
        headers[ERRORS_HEADER] = history
        headers.setdefault(ORIGINAL_ROUTING_KEY_HEADER, message.routing_key or "")
        copy = aio_pika.Message(
            body=message.body,
            headers=headers,
            content_type=message.content_type,
            message_id=message.message_id,
            delivery_mode=DeliveryMode.PERSISTENT,
        )
        try:
            if dead_letter:
                exchange = await consuming.publisher.get_exchange(DEAD_LETTER_EXCHANGE)
                await exchange.publish(copy, routing_key=topology.name)
            else:
                await consuming.publisher.default_exchange.publish(copy, routing_key=topology.retry_queue(attempt))
        except Exception:
            # Could not park it: give it back to the broker, whose delivery limit still bounds it.
            log.exception("could not reroute message %s; returning it to the queue", message.message_id)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            await consuming.settlement.settled_alone(message)
            return
        await consuming.settlement.ack([message])


def _enter_trace_context(message: AbstractIncomingMessage) -> None:
    """The request id and traceparent the event was published under, for the logs of its handling."""
    headers = message.headers or {}
    correlation_id.set(_header_str(headers.get(REQUEST_ID_HEADER)))
    traceparent_var.set(valid_traceparent(_header_str(headers.get(TRACEPARENT_HEADER))))


def _header_str(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _header_int(value: object, *, default: int) -> int:
    try:
        return int(str(_header_str(value) if isinstance(value, bytes) else value))
    except (TypeError, ValueError):
        return default


def _history(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [item for item in (_header_str(v) for v in value) if item is not None]
