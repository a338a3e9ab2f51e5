from alembic import context

from inspectors.db.tables import SCHEMA, metadata
from inspectors.settings import InspectorsSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or InspectorsSettings().database_url,
)
