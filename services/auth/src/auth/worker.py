"""The auth service's background process: ``python -m auth.worker``."""

from auth.events.consumed import SUBSCRIPTIONS
from auth.settings import AuthSettings
from servicekit.worker import main as run


def main() -> None:
    run(AuthSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
