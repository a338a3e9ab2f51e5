"""The routing service's background process: ``python -m routing.worker``."""

from routing.events.consumed import SUBSCRIPTIONS
from routing.settings import RoutingSettings
from servicekit.worker import main as run


def main() -> None:
    run(RoutingSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
