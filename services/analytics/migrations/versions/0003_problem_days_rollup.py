"""Rollup read model ``problem_days``: problems per (territory of the path, local day, category, status),
kept by a trigger on ``problems`` in the projector's own transactions; an index of appeals by department.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 20:45:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# One statement per changed problem row: the old row counts -1, the new row +1, on every territory of its path,
# on the local day (the territory's time zone) it was reported and the day it was solved. MERGE deletes a row
# whose counts fall to zero, so the rollup is a pure function of the problems table (rebuild == incremental).
TRIGGER_FUNCTION = """
CREATE FUNCTION analytics.problem_days_maintain() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  MERGE INTO analytics.problem_days AS r
  USING (
    SELECT c.territory_id, c.day, c.category_code, c.category_name, c.status,
           sum(c.reported)::int AS reported, sum(c.solved)::int AS solved
      FROM (
        SELECT t.id AS territory_id, x.day, COALESCE(p.category_code, '') AS category_code,
               COALESCE(p.category_name, '') AS category_name, p.status, x.reported * p.sign AS reported,
               x.solved * p.sign AS solved
          FROM (SELECT o.*, -1 AS sign FROM (SELECT OLD.*) o WHERE TG_OP IN ('UPDATE', 'DELETE')
                UNION ALL
                SELECT n.*, 1 AS sign FROM (SELECT NEW.*) n WHERE TG_OP IN ('UPDATE', 'INSERT')) p
          JOIN analytics.territories t ON t.id = ANY(p.territory_path)
          CROSS JOIN LATERAL (
            SELECT (p.reported_at AT TIME ZONE t.timezone)::date AS day, 1 AS reported, 0 AS solved
             WHERE p.reported_at IS NOT NULL
               AND p.status NOT IN ('moderation', 'rejected', 'merged', 'withdrawn')
            UNION ALL
            SELECT (p.solved_at AT TIME ZONE t.timezone)::date, 0, 1 WHERE p.solved_at IS NOT NULL) x
      ) c
     GROUP BY 1, 2, 3, 4, 5
  ) AS s
  ON r.territory_id = s.territory_id AND r.day = s.day AND r.category_code = s.category_code
     AND r.category_name = s.category_name AND r.status = s.status
  WHEN MATCHED AND r.reported + s.reported = 0 AND r.solved + s.solved = 0 THEN DELETE
  WHEN MATCHED THEN UPDATE SET reported = r.reported + s.reported, solved = r.solved + s.solved
  WHEN NOT MATCHED AND (s.reported <> 0 OR s.solved <> 0) THEN
    INSERT (territory_id, day, category_code, category_name, status, reported, solved)
    VALUES (s.territory_id, s.day, s.category_code, s.category_name, s.status, s.reported, s.solved);
  RETURN NULL;
END
$fn$
"""

TRIGGERS = [
    """CREATE TRIGGER problem_days_insert_delete AFTER INSERT OR DELETE ON analytics.problems
       FOR EACH ROW EXECUTE FUNCTION analytics.problem_days_maintain()""",
    """CREATE TRIGGER problem_days_update AFTER UPDATE ON analytics.problems FOR EACH ROW
       WHEN (OLD.territory_path IS DISTINCT FROM NEW.territory_path OR OLD.status IS DISTINCT FROM NEW.status
             OR OLD.reported_at IS DISTINCT FROM NEW.reported_at OR OLD.solved_at IS DISTINCT FROM NEW.solved_at
             OR OLD.category_code IS DISTINCT FROM NEW.category_code
             OR OLD.category_name IS DISTINCT FROM NEW.category_name)
       EXECUTE FUNCTION analytics.problem_days_maintain()""",
]

BACKFILL = """
INSERT INTO analytics.problem_days (territory_id, day, category_code, category_name, status, reported, solved)
SELECT territory_id, day, category_code, category_name, status, sum(reported), sum(solved)
  FROM (
    SELECT t.id AS territory_id, x.day, COALESCE(p.category_code, '') AS category_code,
           COALESCE(p.category_name, '') AS category_name, p.status, x.reported, x.solved
      FROM analytics.problems p
      JOIN analytics.territories t ON t.id = ANY(p.territory_path)
      CROSS JOIN LATERAL (
        SELECT (p.reported_at AT TIME ZONE t.timezone)::date AS day, 1 AS reported, 0 AS solved
         WHERE p.reported_at IS NOT NULL AND p.status NOT IN ('moderation', 'rejected', 'merged', 'withdrawn')
        UNION ALL
        SELECT (p.solved_at AT TIME ZONE t.timezone)::date, 0, 1 WHERE p.solved_at IS NOT NULL) x) c
 GROUP BY 1, 2, 3, 4, 5
"""


def upgrade() -> None:
    op.create_table(
        "problem_days",
        sa.Column("territory_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("day", sa.Date(), nullable=False, comment="Local day in the territory's time zone."),
        sa.Column("category_code", sa.Text(), nullable=False, comment="'' when the problem has none"),
        sa.Column("category_name", sa.Text(), nullable=False, comment="'' when the problem has none"),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column(
            "reported",
            sa.Integer(),
            nullable=False,
            comment="Problems reported that day now in this status (not moderation/rejected/merged/withdrawn).",
        ),
        sa.Column("solved", sa.Integer(), nullable=False, comment="Problems solved that day now in this status."),
        sa.PrimaryKeyConstraint("territory_id", "day", "category_code", "category_name", "status"),
        schema="analytics",
        comment="Rollup of problems, kept by a trigger on problems (rebuilt with the problems model).",
    )
    op.execute(TRIGGER_FUNCTION)
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(BACKFILL)
    # the authority card asks for appeals sent to an authority OR to it as a department: both sides indexed
    op.create_index("appeals_department_idx", "appeals", ["department_id", "sent_at"], schema="analytics")


def downgrade() -> None:
    op.drop_index("appeals_department_idx", table_name="appeals", schema="analytics")
    op.execute("DROP TRIGGER problem_days_update ON analytics.problems")
    op.execute("DROP TRIGGER problem_days_insert_delete ON analytics.problems")
    op.execute("DROP FUNCTION analytics.problem_days_maintain()")
    op.drop_table("problem_days", schema="analytics")
