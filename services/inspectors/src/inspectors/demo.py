"""Loads the inspectors service's demo data (safe to run twice): ``python -m inspectors.demo``."""

import asyncio

from inspectors.settings import InspectorsSettings


async def load(settings: InspectorsSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    return []


def main() -> None:
    for line in asyncio.run(load(InspectorsSettings())):
        print(line)


if __name__ == "__main__":
    main()
