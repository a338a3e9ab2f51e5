"""Loads the initiatives service's demo data (safe to run twice): ``python -m initiatives.demo``."""

import asyncio

from initiatives.settings import InitiativesSettings


async def load(settings: InitiativesSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    return []


def main() -> None:
    for line in asyncio.run(load(InitiativesSettings())):
        print(line)


if __name__ == "__main__":
    main()
