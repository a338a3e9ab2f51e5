"""The events the initiatives service consumes, each with its queue and handler."""

from servicekit.consumer import Subscription

SUBSCRIPTIONS: list[Subscription] = []
