"""The analytics service's background process: ``python -m analytics.worker``."""

from analytics.events.consumed import SUBSCRIPTIONS
from analytics.settings import AnalyticsSettings
from servicekit.worker import main as run


def main() -> None:
    run(AnalyticsSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
