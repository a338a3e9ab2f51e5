"""The events the problems service consumes, each with its queue and handler."""

from problems.settings import ProblemsSettings
from problems.usecases import life
from problems.usecases.notifications import SUBSCRIPTIONS as NOTIFY_SUBSCRIPTIONS
from servicekit.consumer import Subscription
from servicekit.events import CloudEvent
from servicekit.uow import UnitOfWork

APPEAL_EVENTS = ("sent", "registered", "assigned", "answered", "forwarded", "extended", "overdue", "escalated")


async def on_appeal_event(event: CloudEvent, uow: UnitOfWork) -> None:
    await life.apply_appeal_event(uow, ProblemsSettings(), event)


async def on_territory_changed(event: CloudEvent, uow: UnitOfWork) -> None:
    await life.apply_territory(uow, event)


async def on_user_erased(event: CloudEvent, uow: UnitOfWork) -> None:
    await life.erase_user(uow, event)


SUBSCRIPTIONS: list[Subscription] = [
    Subscription(
        "problems.appeal-status", tuple(f"routing.appeal.{verb}.v1" for verb in APPEAL_EVENTS), on_appeal_event
    ),
    Subscription("problems.territories", ("routing.territory.changed.v1",), on_territory_changed),
    Subscription("problems.user-erased", ("auth.user.erased.v1",), on_user_erased),
    *NOTIFY_SUBSCRIPTIONS,  # e-mail to subscribers, erasure of subscriptions
]
