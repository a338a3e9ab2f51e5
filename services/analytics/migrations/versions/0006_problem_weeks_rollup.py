"""Rollup read model ``problem_weeks``: ``problem_days`` by local week (starting on Monday), kept by a trigger on
``problems`` like it; the dashboard reads whole weeks from it and only the days at the edges of the period from
``problem_days``, a seventh of the rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 22:55:00
"""

import importlib.util
import re
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DEFER = """IF current_setting('analytics.defer_rollups', true) = 'on' THEN
    RETURN NULL;  -- a rebuild computes the rollups afterwards, all at once
  END IF;"""


def _weekly(sql: str) -> str:
    """Migration 0003's SQL of ``problem_days``, by week."""
    sql = sql.replace("problem_days", "problem_weeks")
    sql = re.sub(
        r"\(p\.(reported_at|solved_at) AT TIME ZONE t\.timezone\)::date",
        r"date_trunc('week', p.\1 AT TIME ZONE t.timezone)::date",
        sql,
    )
    return re.sub(r"\bday\b", "week", sql)


def _m0003() -> object:
    spec = importlib.util.spec_from_file_location("m0003", Path(__file__).with_name("0003_problem_days_rollup.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_SOURCE = _m0003()
TRIGGER_FUNCTION: str = _weekly(_SOURCE.TRIGGER_FUNCTION).replace("BEGIN\n  MERGE", f"BEGIN\n  {DEFER}\n  MERGE")  # type: ignore[attr-defined]
TRIGGERS: list[str] = [_weekly(t) for t in _SOURCE.TRIGGERS]  # type: ignore[attr-defined]
BACKFILL: str = _weekly(_SOURCE.BACKFILL)  # type: ignore[attr-defined]


def upgrade() -> None:
    op.create_table(
        "problem_weeks",
        sa.Column("territory_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("week", sa.Date(), nullable=False, comment="Monday of the local week, territory's time zone."),
        sa.Column("category_code", sa.Text(), nullable=False, comment="'' when the problem has none"),
        sa.Column("category_name", sa.Text(), nullable=False, comment="'' when the problem has none"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("reported", sa.Integer(), nullable=False, comment="As in problem_days, by week."),
        sa.Column("solved", sa.Integer(), nullable=False, comment="As in problem_days, by week."),
        sa.PrimaryKeyConstraint("territory_id", "week", "category_code", "category_name", "status"),
        schema="analytics",
        comment="Rollup of problems by week, kept by a trigger on problems (rebuilt with the problems model).",
    )
    op.execute(TRIGGER_FUNCTION)
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER problem_weeks_update ON analytics.problems")
    op.execute("DROP TRIGGER problem_weeks_insert_delete ON analytics.problems")
    op.execute("DROP FUNCTION analytics.problem_weeks_maintain()")
    op.drop_table("problem_weeks", schema="analytics")
