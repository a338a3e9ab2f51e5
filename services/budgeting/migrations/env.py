from alembic import context

from budgeting.db.tables import SCHEMA, metadata
from budgeting.settings import BudgetingSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or BudgetingSettings().database_url,
)
