"""The budgeting service's background process: ``python -m budgeting.worker``."""

from budgeting.events.consumed import SUBSCRIPTIONS
from budgeting.settings import BudgetingSettings
from servicekit.worker import main as run


def main() -> None:
    run(BudgetingSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
