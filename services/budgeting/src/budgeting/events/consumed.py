"""The events the budgeting service consumes, each with its queue and handler."""

from servicekit.consumer import Subscription

SUBSCRIPTIONS: list[Subscription] = []
