"""Cheaper projection, for the rebuild of a million problems' events in minutes:

- ``point_territory`` and ``territory_ancestors`` in PL/pgSQL. As SQL functions that cannot be inlined, PostgreSQL
  15 parsed and planned their query on every call (about 70 and 200 µs: a third of the problems' rebuild);
  PL/pgSQL keeps each plan for the session. Same queries, same results.
- The rollup triggers test the rebuild's ``analytics.defer_rollups`` in their WHEN. Their functions tested it
  first thing, but the call itself (queued per row, run at the end of the statement) was a quarter of the
  rebuild's time; a false WHEN queues nothing.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 01:10:00
"""

import importlib.util
import re
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

PLPGSQL_FUNCTIONS = [
    """
CREATE OR REPLACE FUNCTION analytics.point_territory(p geometry) RETURNS uuid LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN (SELECT id FROM analytics.territories
           WHERE boundary IS NOT NULL AND ST_Covers(boundary, p)
           ORDER BY area, id LIMIT 1);
END
$$""",
    """
CREATE OR REPLACE FUNCTION analytics.territory_ancestors(tid uuid) RETURNS uuid[] LANGUAGE plpgsql STABLE AS $$
BEGIN
  IF tid IS NULL THEN
    RETURN '{}'::uuid[];
  END IF;
  RETURN COALESCE((
    WITH RECURSIVE up(id, parent_id, depth) AS (
      SELECT t.id, t.parent_id, 1 FROM analytics.territories t WHERE t.id = tid
      UNION ALL
      SELECT t.id, t.parent_id, up.depth + 1 FROM analytics.territories t JOIN up ON t.id = up.parent_id
       WHERE up.depth < 16
    )
    SELECT array_agg(up.id ORDER BY up.depth) FROM up), ARRAY[tid]);
END
$$""",
]

GUARD = "current_setting('analytics.defer_rollups', true) IS DISTINCT FROM 'on'"
"""True unless a rebuild defers the rollups (:func:`analytics.db.positions.defer_rollups`)."""


def _migration(file: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(file.removesuffix(".py"), Path(__file__).with_name(file))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rollup_triggers() -> list[str]:
    """Every rollup trigger as its migration (0003 to 0007) created it."""
    files = (
        "0003_problem_days_rollup.py",
        "0004_appeal_times_rollup.py",
        "0005_vote_rollup.py",
        "0006_problem_weeks_rollup.py",
        "0007_authority_days_rollup.py",
    )
    return [trigger for file in files for trigger in _migration(file).TRIGGERS]


def guarded(trigger: str) -> str:
    """``trigger`` with the deferral tested in its WHEN (added to the WHEN it has, if any)."""
    if " WHEN (" in trigger:
        trigger = trigger.replace(" WHEN (", f" WHEN (({GUARD}) AND (", 1)
        return trigger.replace(" EXECUTE FUNCTION", ") EXECUTE FUNCTION", 1)
    return trigger.replace(" EXECUTE FUNCTION", f" WHEN ({GUARD}) EXECUTE FUNCTION", 1)


def _drop(trigger: str) -> str:
    match = re.search(r"CREATE TRIGGER (\w+) .*? ON (analytics\.\w+)", trigger, re.DOTALL)
    assert match is not None, trigger
    return f"DROP TRIGGER {match[1]} ON {match[2]}"


def _plain_sql_functions() -> list[str]:
    return [
        f.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)
        for f in _migration("0002_archive_and_read_models.py").FUNCTIONS
        if "CREATE FUNCTION" in f
    ]


def upgrade() -> None:
    for function in PLPGSQL_FUNCTIONS:
        op.execute(function)
    for trigger in _rollup_triggers():
        op.execute(_drop(trigger))
        op.execute(guarded(trigger))


def downgrade() -> None:
    for trigger in _rollup_triggers():
        op.execute(_drop(trigger))
        op.execute(trigger)
    for function in _plain_sql_functions():
        op.execute(function)
