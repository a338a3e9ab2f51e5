"""Loads the routing service's demo data (safe to run twice): ``python -m routing.demo``."""

import asyncio

from routing.settings import RoutingSettings


async def load(settings: RoutingSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    return []


def main() -> None:
    for line in asyncio.run(load(RoutingSettings())):
        print(line)


if __name__ == "__main__":
    main()
