"""The budgeting service's background process: ``python -m budgeting.worker``."""

from servicekit.worker import main as run

from budgeting.events.consumed import SUBSCRIPTIONS
from budgeting.settings import BudgetingSettings


def main() -> None:
    run(BudgetingSettings(), SUBSCRIPTIONS)


if __name__ == "__main__":
    main()
