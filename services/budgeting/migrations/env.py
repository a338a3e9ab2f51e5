from alembic import context
from servicekit.migrations import run_alembic_env

from budgeting.db.tables import SCHEMA, metadata
from budgeting.settings import BudgetingSettings

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or BudgetingSettings().database_url,
)
