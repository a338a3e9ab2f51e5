from alembic import context

from problems.db.tables import SCHEMA, metadata
from problems.settings import ProblemsSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or ProblemsSettings().database_url,
)
