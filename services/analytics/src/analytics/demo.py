"""Loads the analytics service's demo data (safe to run twice): ``python -m analytics.demo``.

Analytics builds everything from events, so its demo data are events: half a year of synthetic history of the
demo town (Коломна and its four districts, the demo authorities; about 300 problems and their appeals),
appended to the archive as if problems and routing had published them, then projected. The events the other
services' demo data publish once the workers run are archived on top, as any events are. The synthetic
problems exist only in analytics (their ids are not problems of the problems service): they are there so the
dashboards, the overdue report and the rating are not empty on a fresh machine.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

from analytics.db import archive as archive_db
from analytics.domain.synthetic import TOWN_OKTMO, territory_id, town_stream
from analytics.settings import AnalyticsSettings
from analytics.usecases.projector import project_once
from servicekit.db import create_engine, create_session_factory
from servicekit.events import TYPE_PREFIX, CloudEvent

DEMO_PROBLEMS = 300
DEMO_SEED = 46738000


def _event_id(index: int) -> uuid.UUID:
    return uuid.uuid5(uuid.NAMESPACE_URL, f"gorod:analytics-demo:{index}")


async def load(settings: AnalyticsSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    engine = create_engine(settings, pool_size=1)
    sessions = create_session_factory(engine)
    town = territory_id(TOWN_OKTMO)
    base = f"http://127.0.0.1:8000/api/v1/analytics/territories/{town}"
    try:
        async with sessions() as session, session.begin():
            if await archive_db.contains(session, _event_id(0)):
                loaded = 0
            else:
                loaded = 0
                for index, item in enumerate(town_stream(DEMO_SEED, datetime.now(UTC), DEMO_PROBLEMS)):
                    event = CloudEvent(
                        id=_event_id(index),
                        source=item.routing_key.split(".", 1)[0],
                        type=TYPE_PREFIX + item.routing_key,
                        time=item.time,
                        subject=item.subject,
                        data=item.data,
                    )
                    loaded += await archive_db.append(session, event)
        while await project_once(engine):
            pass
    finally:
        await engine.dispose()
    return [
        f"analytics: {loaded} demo events archived" if loaded else "analytics: demo events already there",
        f"  dashboard of Коломна: {base}/dashboard",
        f"  overdue report:       {base}/overdue",
        f"  people's rating:      {base}/rating",
    ]


def main() -> None:
    for line in asyncio.run(load(AnalyticsSettings())):
        print(line)


if __name__ == "__main__":
    main()
