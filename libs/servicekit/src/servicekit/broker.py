"""RabbitMQ topology, declared from code (ARCHITECTURE §3).

- ``gorod.events``: the durable topic exchange every service publishes to, routing key
  ``<service>.<entity>.<verb>.v<N>``. Its alternate exchange keeps what no queue is bound for yet.
- ``gorod.events.dlx``: where dead letters go; ``<queue>.dlq`` is bound to it with the key ``<queue>``.
- Per consumer queue ``<consumer>.<purpose>``: a quorum queue with an explicit delivery limit, its DLQ,
  and one TTL wait queue per retry step, ``<queue>.retry.<n>``, that dead-letters back into the queue.
"""

from __future__ import annotations

from dataclasses import dataclass

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange, ExchangeType

EVENTS_EXCHANGE = "gorod.events"
DEAD_LETTER_EXCHANGE = "gorod.events.dlx"
UNROUTED_EXCHANGE = "gorod.events.unrouted"
UNROUTED_QUEUE = "gorod.events.unrouted"
UNROUTED_TTL_MS = 14 * 24 * 3600 * 1000


@dataclass(frozen=True)
class QueueTopology:
    name: str
    routing_keys: tuple[str, ...]
    delivery_limit: int
    retry_delays: tuple[float, ...]

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"

    def retry_queue(self, attempt: int) -> str:
        """The wait queue a message sits in after failing its ``attempt``-th try (1-based)."""
        return f"{self.name}.retry.{attempt}"


async def connect(amqp_url: str, *, timeout: float = 5.0) -> AbstractConnection:
    return await aio_pika.connect(amqp_url, timeout=timeout, client_properties={"connection_name": "gorod"})


async def declare_exchanges(channel: AbstractChannel) -> AbstractExchange:
    unrouted = await channel.declare_exchange(UNROUTED_EXCHANGE, ExchangeType.FANOUT, durable=True)
    unrouted_queue = await channel.declare_queue(
        UNROUTED_QUEUE, durable=True, arguments={"x-message-ttl": UNROUTED_TTL_MS}
    )
    await unrouted_queue.bind(unrouted)
    await channel.declare_exchange(DEAD_LETTER_EXCHANGE, ExchangeType.DIRECT, durable=True)
    return await channel.declare_exchange(
        EVENTS_EXCHANGE,
        ExchangeType.TOPIC,
        durable=True,
        arguments={"alternate-exchange": UNROUTED_EXCHANGE},
    )


async def declare_queue(channel: AbstractChannel, topology: QueueTopology) -> aio_pika.abc.AbstractQueue:
    """Declare the queue, its DLQ and retry queues, and bind it; safe to repeat."""
    events = await declare_exchanges(channel)
    dlx = await channel.get_exchange(DEAD_LETTER_EXCHANGE)
    dlq = await channel.declare_queue(topology.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"})
    await dlq.bind(dlx, routing_key=topology.name)
    queue = await channel.declare_queue(
        topology.name,
        durable=True,
        arguments={
            "x-queue-type": "quorum",
            "x-delivery-limit": topology.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": topology.name,
        },
    )
    for routing_key in topology.routing_keys:
        await queue.bind(events, routing_key=routing_key)
    for attempt, delay in enumerate(topology.retry_delays, start=1):
        await channel.declare_queue(
            topology.retry_queue(attempt),
            durable=True,
            arguments={
                "x-message-ttl": max(1, int(delay * 1000)),
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": topology.name,
            },
        )
    return queue


async def ping(amqp_url: str, *, timeout: float = 3.0) -> None:
    """A real round trip: connect, open a channel, close."""
    connection = await connect(amqp_url, timeout=timeout)
    try:
        channel = await connection.channel()
        await channel.close()
    finally:
        await connection.close()
