"""The consumer runner: handles events from the service's quorum queues, exactly once in effect.

For each message: the inbox row ``(event id, handler)`` and the handler's effect commit in one unit of
work; a duplicate finds its inbox row and is acknowledged without effect. The message is acknowledged only
after commit. A handler that raises is retried after the configured back-off (the message waits in a TTL
queue, then returns), and after the last retry goes to ``<queue>.dlq`` with the history of its failures.
A consumer that dies mid-message leaves it unacknowledged: the broker redelivers it, and after the quorum
queue's delivery limit dead-letters it too. Nothing is dropped silently.

Group commit: the messages waiting in a queue's buffer are taken together by one of a few "lanes" and
handled in ONE transaction (one multi-row inbox claim, every handler, one commit), then each is acknowledged.
A commit per message costs several database round trips; under load that, not the handlers, is the limit.
If any handler of a group raises, the group is rolled back and its messages are handled one by one, so only
the failing one is retried or dead-lettered. Handlers therefore must not commit themselves, and must not rely
on the order of events: lanes run concurrently, and a retried event comes back later.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
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
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.broker import DEAD_LETTER_EXCHANGE, QueueTopology, connect, declare_queue
from servicekit.events import CloudEvent
from servicekit.logs import REQUEST_ID_HEADER, TRACEPARENT_HEADER, traceparent_var, valid_traceparent
from servicekit.uow import UnitOfWork

log = logging.getLogger(__name__)

Handler = Callable[[CloudEvent, UnitOfWork], Awaitable[None]]
ATTEMPT_HEADER = "x-gorod-attempt"
ERRORS_HEADER = "x-gorod-errors"
ORIGINAL_ROUTING_KEY_HEADER = "x-gorod-original-routing-key"
MAX_BACKOFF = 30.0
DRAIN_TIMEOUT = 10.0
LANES = 4
"""Concurrent groups per queue: one lane commits while another runs its handlers."""


class HandlerUnitOfWork(UnitOfWork):
    """The unit of work a handler gets: the runner commits it, with the inbox claims of its whole group.

    A handler that committed on its own would commit the claims of events not yet handled; if a later one
    then failed, the retry would find them claimed and skip them: lost. So it may not."""

    async def commit(self) -> None:
        raise RuntimeError("an event handler must not commit: the consumer runner commits after it returns")

    async def commit_group(self) -> None:
        await super().commit()


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
                    await self._drain()
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
            buffer: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
            for _ in range(self._lanes):
                lane = self._lane(subscription, topology, publisher, buffer)
                self._lane_tasks.append(asyncio.create_task(lane, name=f"consumer lane {subscription.queue}"))
            tag = await queue.consume(self._callback(buffer))
            self._consumers.append((queue, tag))

    async def _stop_lanes(self) -> None:
        """Messages still buffered were never acked: the broker redelivers them on the next connection."""
        tasks, self._lane_tasks = self._lane_tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._in_flight = 0
        self._idle.set()

    async def _drain(self, timeout: float = DRAIN_TIMEOUT) -> None:
        """On stop: take no new messages, and let the handlers under way commit and ack before closing.

        What does not finish in time is left unacknowledged and will be redelivered: never lost."""
        for queue, tag in self._consumers:
            with contextlib.suppress(Exception):
                await queue.cancel(tag)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=timeout)

    def _callback(
        self, buffer: asyncio.Queue[AbstractIncomingMessage]
    ) -> Callable[[AbstractIncomingMessage], Awaitable[None]]:
        async def on_message(message: AbstractIncomingMessage) -> None:
            self._in_flight += 1
            self._idle.clear()
            buffer.put_nowait(message)

        return on_message

    def _done(self, count: int) -> None:
        self._in_flight -= count
        if self._in_flight <= 0:
            self._in_flight = 0
            self._idle.set()

    async def _lane(
        self,
        subscription: Subscription,
        topology: QueueTopology,
        publisher: AbstractChannel,
        buffer: asyncio.Queue[AbstractIncomingMessage],
    ) -> None:
        """Take whatever is waiting (at least one message, at most a prefetch's worth) and handle it as a group."""
        while True:
            group = [await buffer.get()]
            while len(group) < self._prefetch and not buffer.empty():
                group.append(buffer.get_nowait())
            try:
                if len(group) == 1:
                    await self._handle(subscription, topology, publisher, group[0])
                else:
                    await self._handle_group(subscription, topology, publisher, group)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Acking or rerouting failed (the channel is going away): unacked messages come back by themselves.
                log.exception("consumer lane of %s failed on a group of %d", subscription.queue, len(group))
            finally:
                self._done(len(group))

    async def _handle_group(
        self,
        subscription: Subscription,
        topology: QueueTopology,
        publisher: AbstractChannel,
        messages: list[AbstractIncomingMessage],
    ) -> None:
        parsed: list[tuple[AbstractIncomingMessage, CloudEvent]] = []
        for message in messages:
            try:
                parsed.append((message, CloudEvent.model_validate_json(message.body)))
            except ValidationError as error:
                await self._reroute(topology, publisher, message, error, dead_letter=True)
        if not parsed:
            return
        try:
            await self._apply_group(subscription, parsed)
        except Exception as error:
            log.info(
                "a group of %d events failed in %s (%r); handling them one by one",
                len(parsed),
                subscription.handler_name,
                error,
            )
            for message, _ in parsed:
                await self._handle(subscription, topology, publisher, message)
            return
        for message, _ in parsed:
            await message.ack()

    async def _apply_group(
        self, subscription: Subscription, parsed: list[tuple[AbstractIncomingMessage, CloudEvent]]
    ) -> None:
        """One transaction: claim every event in the inbox at once, run the handler on those claimed, commit."""
        unique = {event.id: (message, event) for message, event in reversed(parsed)}  # the first delivery wins
        async with HandlerUnitOfWork(self._session_factory, self._schema) as uow:
            inbox = uow.tables.inbox
            claimed = await uow.session.execute(
                insert(inbox)
                .values(
                    [
                        {"event_id": event.id, "handler": subscription.handler_name, "event_type": event.type}
                        for _, event in unique.values()
                    ]
                )
                .on_conflict_do_nothing()
                .returning(inbox.c.event_id)
            )
            fresh = {row[0] for row in claimed}
            for message, event in unique.values():
                if event.id not in fresh:
                    log.info("event %s already handled by %s, skipped", event.id, subscription.handler_name)
                    continue
                _enter_trace_context(message)
                await subscription.handler(event, uow)
            await uow.commit_group()

    async def _handle(
        self,
        subscription: Subscription,
        topology: QueueTopology,
        publisher: AbstractChannel,
        message: AbstractIncomingMessage,
    ) -> None:
        headers = message.headers or {}
        _enter_trace_context(message)
        try:
            event = CloudEvent.model_validate_json(message.body)
        except ValidationError as error:
            # A malformed message will never succeed: straight to the DLQ, kept for a person to look at.
            await self._reroute(topology, publisher, message, error, dead_letter=True)
            return
        try:
            applied = await self._apply(subscription, event)
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
            await self._reroute(topology, publisher, message, error, dead_letter=dead)
            return
        if not applied:
            log.info("event %s already handled by %s, skipped", event.id, subscription.handler_name)
        await message.ack()

    async def _apply(self, subscription: Subscription, event: CloudEvent) -> bool:
        """Run the handler with the inbox claim in one transaction; False for a duplicate."""
        async with HandlerUnitOfWork(self._session_factory, self._schema) as uow:
            inbox = uow.tables.inbox
            claimed = await uow.session.execute(
                insert(inbox)
                .values(event_id=event.id, handler=subscription.handler_name, event_type=event.type)
                .on_conflict_do_nothing()
                .returning(inbox.c.event_id)
            )
            if claimed.first() is None:
                return False
            await subscription.handler(event, uow)
            await uow.commit_group()
        return True

    async def _reroute(
        self,
        topology: QueueTopology,
        publisher: AbstractChannel,
        message: AbstractIncomingMessage,
        error: BaseException,
        *,
        dead_letter: bool,
    ) -> None:
        """Move the message to its next retry queue or to the DLQ, with its failure history; then ack."""
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
                exchange = await publisher.get_exchange(DEAD_LETTER_EXCHANGE)
                await exchange.publish(copy, routing_key=topology.name)
            else:
                await publisher.default_exchange.publish(copy, routing_key=topology.retry_queue(attempt))
        except Exception:
            # Could not park it: give it back to the broker, whose delivery limit still bounds it.
            log.exception("could not reroute message %s; returning it to the queue", message.message_id)
            with contextlib.suppress(Exception):
                await message.nack(requeue=True)
            return
        await message.ack()


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
