from alembic import context

import routing.mail.tables  # noqa: F401  (the e-mail channel's tables live on the same metadata)
from routing.db.tables import SCHEMA, metadata
from routing.settings import RoutingSettings
from servicekit.migrations import run_alembic_env

run_alembic_env(
    schema=SCHEMA,
    target_metadata=metadata,
    database_url=context.config.get_main_option("sqlalchemy.url") or RoutingSettings().database_url,
)
