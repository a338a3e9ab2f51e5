"""Rollup read model ``authority_days``: appeals sent, answered, answered on time, the sum of their answer times
and how many of their problems are solved, per (authority or department, local day) and per (authority or
department, local month) in Moscow time (the authority card's zone), kept by triggers on ``appeals`` and on
``problems`` (whose status says solved); and partial indexes of open appeals by authority and by department,
for the card's "overdue now", which depends on the clock and is read from the open appeals themselves.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 23:40:00
"""

# ruff: noqa: S608 - only our own SQL fragments are put together here
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DEFER = """IF current_setting('analytics.defer_rollups', true) = 'on' THEN
    RETURN NULL;  -- a rebuild computes the rollups afterwards, all at once
  END IF;"""

# The entries of one appeals row: for its authority and for its department (once when they are the same), per
# span (its local day, its local month). ``solved`` reads the problem's current status: the problems trigger
# keeps the rows right when it changes, so an appeal's old row is taken back with the status it was added with.
ENTRIES = """
SELECT u.unit_id, s.span, s.start, (a.answered_at IS NOT NULL)::int AS answered,
       (a.on_time IS TRUE)::int AS on_time, extract(epoch FROM a.answered_at - a.sent_at) AS answer_seconds,
       (EXISTS (SELECT 1 FROM analytics.problems p WHERE p.id = a.problem_id AND p.status = 'solved'))::int AS solved
  FROM {source} a
  CROSS JOIN LATERAL (SELECT DISTINCT x FROM unnest(ARRAY[a.authority_id, a.department_id]) x
                       WHERE x IS NOT NULL) u(unit_id)
  CROSS JOIN LATERAL (SELECT (a.sent_at AT TIME ZONE 'Europe/Moscow')::date AS day) d
  CROSS JOIN LATERAL (VALUES ('day', d.day), ('month', date_trunc('month', d.day::timestamp)::date)) s(span, start)
 WHERE a.sent_at IS NOT NULL
"""

# -1 for the old row, +1 for the new one; a row whose count of appeals falls to zero goes, so the rollup is a
# pure function of the appeals and problems tables (rebuild == incremental).
APPEALS_FUNCTION = (
    """
CREATE FUNCTION analytics.authority_days_maintain() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  e record;
BEGIN
  """
    + DEFER
    + """
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    FOR e IN """
    + ENTRIES.format(source="(SELECT OLD.*)")
    + """ LOOP
      UPDATE analytics.authority_days r
         SET appeals = r.appeals - 1, answered = r.answered - e.answered, on_time = r.on_time - e.on_time,
             answer_seconds = r.answer_seconds - COALESCE(e.answer_seconds, 0), solved = r.solved - e.solved
       WHERE r.unit_id = e.unit_id AND r.span = e.span AND r.start = e.start;
      DELETE FROM analytics.authority_days r
       WHERE r.unit_id = e.unit_id AND r.span = e.span AND r.start = e.start AND r.appeals = 0;
    END LOOP;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    FOR e IN """
    + ENTRIES.format(source="(SELECT NEW.*)")
    + """ LOOP
      INSERT INTO analytics.authority_days AS r
             (unit_id, span, start, appeals, answered, on_time, answer_seconds, solved)
      VALUES (e.unit_id, e.span, e.start, 1, e.answered, e.on_time, COALESCE(e.answer_seconds, 0), e.solved)
      ON CONFLICT (unit_id, span, start) DO UPDATE
         SET appeals = r.appeals + 1, answered = r.answered + e.answered, on_time = r.on_time + e.on_time,
             answer_seconds = r.answer_seconds + COALESCE(e.answer_seconds, 0), solved = r.solved + e.solved;
    END LOOP;
  END IF;
  RETURN NULL;
END
$fn$
"""
)

# A problem becoming solved (or no longer solved, or arriving solved after its appeals, or going) moves the
# ``solved`` of the rows of all its appeals; rows of several of its appeals are counted once each.
PROBLEMS_FUNCTION = (
    """
CREATE FUNCTION analytics.authority_days_solved() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  problem uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
  d int := CASE WHEN TG_OP <> 'DELETE' AND NEW.status = 'solved' THEN 1 ELSE -1 END;
BEGIN
  """
    + DEFER
    + """
  UPDATE analytics.authority_days r SET solved = r.solved + d * e.n
    FROM (SELECT unit_id, span, start, count(*)::int AS n
            FROM ("""
    + ENTRIES.format(source="(SELECT * FROM analytics.appeals WHERE problem_id = problem)")
    + """) x GROUP BY 1, 2, 3) e
   WHERE r.unit_id = e.unit_id AND r.span = e.span AND r.start = e.start;
  RETURN NULL;
END
$fn$
"""
)

TRIGGERS = [
    """CREATE TRIGGER authority_days_insert_delete AFTER INSERT OR DELETE ON analytics.appeals
       FOR EACH ROW EXECUTE FUNCTION analytics.authority_days_maintain()""",
    """CREATE TRIGGER authority_days_update AFTER UPDATE ON analytics.appeals FOR EACH ROW
       WHEN (OLD.authority_id IS DISTINCT FROM NEW.authority_id OR OLD.department_id IS DISTINCT FROM NEW.department_id
             OR OLD.problem_id IS DISTINCT FROM NEW.problem_id OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
             OR OLD.answered_at IS DISTINCT FROM NEW.answered_at OR OLD.on_time IS DISTINCT FROM NEW.on_time)
       EXECUTE FUNCTION analytics.authority_days_maintain()""",
    """CREATE TRIGGER authority_days_problem_insert AFTER INSERT ON analytics.problems FOR EACH ROW
       WHEN (NEW.status = 'solved') EXECUTE FUNCTION analytics.authority_days_solved()""",
    """CREATE TRIGGER authority_days_problem_delete AFTER DELETE ON analytics.problems FOR EACH ROW
       WHEN (OLD.status = 'solved') EXECUTE FUNCTION analytics.authority_days_solved()""",
    """CREATE TRIGGER authority_days_problem_update AFTER UPDATE ON analytics.problems FOR EACH ROW
       WHEN ((OLD.status = 'solved') IS DISTINCT FROM (NEW.status = 'solved') OR OLD.id IS DISTINCT FROM NEW.id)
       EXECUTE FUNCTION analytics.authority_days_solved()""",
]

BACKFILL = (
    """
INSERT INTO analytics.authority_days (unit_id, span, start, appeals, answered, on_time, answer_seconds, solved)
SELECT unit_id, span, start, count(*), sum(answered), sum(on_time), COALESCE(sum(answer_seconds), 0), sum(solved)
  FROM ("""
    + ENTRIES.format(source="analytics.appeals")
    + """) e
 GROUP BY 1, 2, 3
"""
)


def upgrade() -> None:
    op.create_table(
        "authority_days",
        sa.Column("unit_id", postgresql.UUID(as_uuid=True), nullable=False, comment="Authority or department."),
        sa.Column("span", sa.Text(), nullable=False, comment="'day' or 'month'"),
        sa.Column("start", sa.Date(), nullable=False, comment="First local day of the span, Moscow time."),
        sa.Column("appeals", sa.Integer(), nullable=False, comment="Appeals sent in the span."),
        sa.Column("answered", sa.Integer(), nullable=False, comment="Of those, answered."),
        sa.Column("on_time", sa.Integer(), nullable=False, comment="Of those, answered on time."),
        sa.Column("answer_seconds", sa.Numeric(), nullable=False, comment="Sum of the answered ones' times."),
        sa.Column("solved", sa.Integer(), nullable=False, comment="Of those, whose problem is solved now."),
        sa.PrimaryKeyConstraint("unit_id", "span", "start"),
        schema="analytics",
        comment="Rollup of appeals by authority, kept by triggers on appeals and problems (rebuilt with them).",
    )
    op.execute(APPEALS_FUNCTION)
    op.execute(PROBLEMS_FUNCTION)
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(BACKFILL)
    for column in ("authority_id", "department_id"):
        op.create_index(
            f"appeals_open_{column}_idx",
            "appeals",
            [column, "sent_at"],
            unique=False,
            schema="analytics",
            postgresql_where=sa.text("answered_at IS NULL"),
        )
    op.create_index(
        "appeals_open_path_gin",
        "appeals",
        ["territory_path"],
        unique=False,
        schema="analytics",
        postgresql_using="gin",
        postgresql_where=sa.text("answered_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("appeals_open_path_gin", table_name="appeals", schema="analytics", postgresql_using="gin")
    for column in ("authority_id", "department_id"):
        op.drop_index(f"appeals_open_{column}_idx", table_name="appeals", schema="analytics")
    for name, table in (
        ("authority_days_problem_update", "problems"),
        ("authority_days_problem_delete", "problems"),
        ("authority_days_problem_insert", "problems"),
        ("authority_days_update", "appeals"),
        ("authority_days_insert_delete", "appeals"),
    ):
        op.execute(f"DROP TRIGGER {name} ON analytics.{table}")
    op.execute("DROP FUNCTION analytics.authority_days_solved()")
    op.execute("DROP FUNCTION analytics.authority_days_maintain()")
    op.drop_table("authority_days", schema="analytics")
