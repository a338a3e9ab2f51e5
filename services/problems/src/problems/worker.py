"""The problems service's background process: ``python -m problems.worker``."""

from problems.events.consumed import SUBSCRIPTIONS
from problems.settings import ProblemsSettings
from servicekit.worker import main as run


def main() -> None:
    run(ProblemsSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
