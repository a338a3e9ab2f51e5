"""The analytics service's background process: ``python -m analytics.worker``.

The kit's worker (outbox relay, the ``analytics.archive`` consumer, housekeeping) and the projector that
builds the read models from the archive run side by side and stop together.
"""

from __future__ import annotations

import asyncio

from analytics.events.consumed import SUBSCRIPTIONS
from analytics.settings import AnalyticsSettings
from analytics.usecases.projector import run_projector
from servicekit import worker
from servicekit.db import create_engine


async def project(settings: AnalyticsSettings, stop: asyncio.Event) -> None:
    """The projector on an engine of its own (two connections: it works in one transaction at a time)."""
    engine = create_engine(settings, pool_size=2)
    try:
        await run_projector(engine, stop, poll_interval=settings.projector_poll_interval)
    finally:
        await engine.dispose()


async def run(settings: AnalyticsSettings, stop: asyncio.Event | None = None) -> None:
    await worker.run_worker(settings, SUBSCRIPTIONS, stop=stop, background=[lambda event: project(settings, event)])


def main() -> None:
    settings = AnalyticsSettings()
    worker.main(settings, SUBSCRIPTIONS, background=[lambda stop: project(settings, stop)])


if __name__ == "__main__":
    main()
