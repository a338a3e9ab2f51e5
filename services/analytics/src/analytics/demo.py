"""Loads the analytics service's demo data (safe to run twice): ``python -m analytics.demo``."""

import asyncio

from analytics.settings import AnalyticsSettings


async def load(settings: AnalyticsSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    return []


def main() -> None:
    for line in asyncio.run(load(AnalyticsSettings())):
        print(line)


if __name__ == "__main__":
    main()
