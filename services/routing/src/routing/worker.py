"""The routing service's background process: ``python -m routing.worker``.

Besides the kit's outbox relay and consumers it runs the deadline timer every ``ROUTING_TIMER_INTERVAL``
seconds (and the e-mail channel's jobs, when that package provides them)."""

from routing.events.consumed import SUBSCRIPTIONS
from routing.settings import RoutingSettings
from routing.usecases.timer import deadline_job
from servicekit import worker
from servicekit.worker import HousekeepingJob


def housekeeping_jobs() -> list[HousekeepingJob]:
    jobs: list[HousekeepingJob] = [deadline_job()]
    try:
        from routing.usecases import email_channel  # the e-mail channel (its own package), when present
    except ImportError:
        return jobs
    jobs.extend(getattr(email_channel, "HOUSEKEEPING", []))
    return jobs


def main() -> None:
    settings = RoutingSettings()
    worker.main(settings, SUBSCRIPTIONS, housekeeping_jobs(), housekeeping_interval=settings.timer_interval)


if __name__ == "__main__":
    main()
