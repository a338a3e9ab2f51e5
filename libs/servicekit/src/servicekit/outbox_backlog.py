"""The outbox's backlog on ``/metrics``: how many committed events wait for the relay, and for how long.

Read from the service's outbox at each scrape, so the API process reports what its worker's relay has not
published yet. A backlog that grows, or an oldest event that keeps ageing, is the first sign of a relay or a
broker in trouble (the events themselves wait safely). The count walks the partial index of pending rows, so
it costs little while the relay keeps up.
"""

from __future__ import annotations

import asyncio
import math

from prometheus_client import CollectorRegistry, Gauge
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.tables import kit_tables

READ_TIMEOUT = 2.0
"""A scrape must not hang on a slow database: past this, the gauges say NaN (unknown) for this scrape."""


class OutboxBacklog:
    def __init__(self, registry: CollectorRegistry, schema: str) -> None:
        outbox = kit_tables(schema).outbox
        self._query = select(
            func.count(), func.coalesce(func.extract("epoch", func.now() - func.min(outbox.c.created_at)), 0)
        ).where(outbox.c.published_at.is_(None))
        self.pending = Gauge(
            "outbox_pending_events", "Committed events the outbox relay has not published yet.", registry=registry
        )
        self.oldest_age = Gauge(
            "outbox_oldest_pending_age_seconds",
            "How long the oldest unpublished event has waited, in seconds; 0 when none waits.",
            registry=registry,
        )

    async def refresh(self, engine: AsyncEngine) -> None:
        """Read the backlog now; NaN if the database does not answer (rather than repeat stale numbers)."""
        try:
            async with asyncio.timeout(READ_TIMEOUT), engine.connect() as conn:
                count, age = (await conn.execute(self._query)).one()
        except Exception:
            self.pending.set(math.nan)
            self.oldest_age.set(math.nan)
            return
        self.pending.set(count)
        self.oldest_age.set(float(age))
