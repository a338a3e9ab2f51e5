"""The initiatives service's background process: ``python -m initiatives.worker``."""

from initiatives.events.consumed import SUBSCRIPTIONS
from initiatives.settings import InitiativesSettings
from servicekit.worker import main as run


def main() -> None:
    run(InitiativesSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
