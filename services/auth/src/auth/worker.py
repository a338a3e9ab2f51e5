"""The auth service's background process: ``python -m auth.worker``."""

from servicekit.worker import main as run

from auth.events.consumed import SUBSCRIPTIONS
from auth.settings import AuthSettings


def main() -> None:
    run(AuthSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
