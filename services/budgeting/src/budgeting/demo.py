"""Loads the budgeting service's demo data (safe to run twice): ``python -m budgeting.demo``."""

import asyncio

from budgeting.settings import BudgetingSettings


async def load(settings: BudgetingSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    return []


def main() -> None:
    for line in asyncio.run(load(BudgetingSettings())):
        print(line)


if __name__ == "__main__":
    main()
