"""The events the analytics service consumes: all of problems' and routing's, into the archive.

One quorum queue ``analytics.archive`` takes every event of the services analytics reports on. Its handler
only appends the event, without personal data (:mod:`analytics.domain.redaction`), to ``analytics.archive``
(the inbox and the unique event id make that exactly-once); the projector builds the
read models from the archive (see :mod:`analytics.usecases.projector`).
"""

from analytics.db import archive as archive_db
from analytics.domain.redaction import redact
from servicekit.consumer import Subscription
from servicekit.events import CloudEvent
from servicekit.uow import UnitOfWork

ARCHIVED_SOURCES = ("problems", "routing")


async def archive_event(event: CloudEvent, uow: UnitOfWork) -> None:
    await archive_db.append(uow.session, event.model_copy(update={"data": redact(event.data)}))


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        queue="analytics.archive",
        routing_keys=tuple(f"{source}.#" for source in ARCHIVED_SOURCES),
        handler=archive_event,
    ),
]
