"""Loads the auth service's demo data (safe to run twice): ``python -m auth.demo``."""

import asyncio

from auth.settings import AuthSettings


async def load(settings: AuthSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    return []


def main() -> None:
    for line in asyncio.run(load(AuthSettings())):
        print(line)


if __name__ == "__main__":
    main()
