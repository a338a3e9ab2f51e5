"""Helpers for each service's Alembic environment and the kit's frozen DDL steps."""

from servicekit.migrations.env import run_alembic_env

__all__ = ["run_alembic_env"]
