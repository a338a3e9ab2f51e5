"""Loads the problems service's demo data (safe to run twice): ``python -m problems.demo``."""

import asyncio

from problems.settings import ProblemsSettings


async def load(settings: ProblemsSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    return []


def main() -> None:
    for line in asyncio.run(load(ProblemsSettings())):
        print(line)


if __name__ == "__main__":
    main()
