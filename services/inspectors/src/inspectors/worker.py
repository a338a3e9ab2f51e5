"""The inspectors service's background process: ``python -m inspectors.worker``."""

from inspectors.events.consumed import SUBSCRIPTIONS
from inspectors.settings import InspectorsSettings
from servicekit.worker import main as run


def main() -> None:
    run(InspectorsSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
