from alembic import context

from analytics.db.tables import SCHEMA, metadata
from analytics.settings import AnalyticsSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or AnalyticsSettings().database_url,
)
