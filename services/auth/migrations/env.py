from alembic import context

from auth.db.tables import SCHEMA, metadata
from auth.settings import AuthSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or AuthSettings().database_url,
)
