"""The problems service's background process: ``python -m problems.worker``.

The kit's worker (outbox relay, consumers) with the service's housekeeping (orphan photos, expired
confirmation windows, mails left half-sent by a crash), the subscribers' e-mail sender and the map cells' fold
beside it."""

from problems.events.consumed import SUBSCRIPTIONS
from problems.settings import ProblemsSettings
from problems.storage import create_storage
from problems.usecases.author import close_expired_windows
from problems.usecases.map_cells import run_folder
from problems.usecases.notifications import fail_stale_sending, run_sender
from problems.usecases.photos import orphan_cleanup
from servicekit import worker


def main() -> None:
    settings = ProblemsSettings()
    housekeeping = [
        orphan_cleanup(create_storage(settings), settings),
        close_expired_windows(settings),
        fail_stale_sending,
    ]
    worker.main(
        settings,
        SUBSCRIPTIONS,
        housekeeping,
        background=[lambda stop: run_sender(settings, stop), lambda stop: run_folder(settings, stop)],
    )


if __name__ == "__main__":
    main()
