from alembic import context

from initiatives.db.tables import SCHEMA, metadata
from initiatives.settings import InitiativesSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or InitiativesSettings().database_url,
)
