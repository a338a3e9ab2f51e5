"""The routing service's background process: ``python -m routing.worker``.

Besides the kit's outbox relay and consumers it runs, every ``ROUTING_TIMER_INTERVAL`` seconds, the deadline
timer and the e-mail channel's jobs (due appeal e-mails, reminders). The inbound SMTP receiver is a process of
its own, ``python -m routing.mail``, run where the authorities' replies arrive (see docs/routing.md)."""

from routing.events.consumed import SUBSCRIPTIONS
from routing.settings import RoutingSettings
from routing.usecases import email_channel
from routing.usecases.timer import deadline_job
from servicekit import worker


def main() -> None:
    settings = RoutingSettings()
    housekeeping = [deadline_job(), *email_channel.HOUSEKEEPING]
    worker.main(settings, SUBSCRIPTIONS, housekeeping, housekeeping_interval=settings.timer_interval)


if __name__ == "__main__":
    main()
