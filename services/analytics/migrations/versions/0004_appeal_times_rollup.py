"""Rollup read model ``appeal_times``: appeals sent, and histograms of the time to registration and to answer,
per (territory of the path, local day) and per (territory of the path, local week), kept by a trigger on
``appeals``; the dashboard's response times read it instead of every appeal of the territory.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:40:00
"""

# ruff: noqa: S608 - only our own SQL fragments are put together here
import importlib.util
from pathlib import Path

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BUCKETS = 161
"""Bucket 0: under a minute; bucket i >= 1: [60 * 2^((i-1)/8), 60 * 2^(i/8)) seconds, the last one open-ended
(about two years and more). Eight buckets an octave: a median read from them is within 4.4 % of the exact one
(``analytics.domain.histogram``)."""

DEFER = """IF current_setting('analytics.defer_rollups', true) = 'on' THEN
    RETURN NULL;  -- a rebuild computes the rollups afterwards, all at once
  END IF;"""


FUNCTIONS = [
    f"""
CREATE FUNCTION analytics.duration_bucket(seconds float8) RETURNS int LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN seconds IS NULL THEN NULL
              WHEN seconds < 60 THEN 0
              ELSE least({BUCKETS - 1}, floor(8 * ln(seconds / 60) / ln(2))::int + 1) END
$$""",
    f"""
CREATE FUNCTION analytics.hist_add(h int[], i int, d int) RETURNS int[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF h IS NULL THEN
    h := array_fill(0, ARRAY[{BUCKETS}], ARRAY[0]);
  END IF;
  IF i IS NOT NULL AND d <> 0 THEN
    h[i] := h[i] + d;
  END IF;
  RETURN h;
END
$$""",
    f"""
CREATE FUNCTION analytics.hist_from(i int[], n bigint[]) RETURNS int[] LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  h int[] := array_fill(0, ARRAY[{BUCKETS}], ARRAY[0]);
BEGIN
  FOR k IN 1 .. COALESCE(array_length(i, 1), 0) LOOP
    IF i[k] IS NOT NULL THEN
      h[i[k]] := h[i[k]] + n[k];
    END IF;
  END LOOP;
  RETURN h;
END
$$""",
]

# The entries of one appeals row: per territory of its path, per span (its local day, its local week), the
# appeal itself and the buckets of its two durations (NULL while not registered / not answered).
ENTRIES = """
SELECT t.id AS territory_id, s.span, s.start,
       analytics.duration_bucket(extract(epoch FROM a.registered_at - a.sent_at)) AS registration,
       analytics.duration_bucket(extract(epoch FROM a.answered_at - a.sent_at)) AS answer
  FROM {source} a
  JOIN analytics.territories t ON t.id = ANY(a.territory_path)
  CROSS JOIN LATERAL (SELECT (a.sent_at AT TIME ZONE t.timezone)::date AS day) d
  CROSS JOIN LATERAL (VALUES ('day', d.day), ('week', date_trunc('week', d.day::timestamp)::date)) s(span, start)
 WHERE a.sent_at IS NOT NULL
"""

# Applied once for the old row (-1) and once for the new row (+1); a row whose count falls to zero goes, so the
# rollup is a pure function of the appeals and territories tables (rebuild == incremental). A change of a
# territory (which may add it to the rollup, or change its time zone) is not seen here: the appeals model
# recomputes the rows of the territories concerned then (``analytics.db.projections``).
TRIGGER_FUNCTION = (
    """
CREATE FUNCTION analytics.appeal_times_maintain() RETURNS trigger LANGUAGE plpgsql AS $fn$
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
      UPDATE analytics.appeal_times r
         SET appeals = r.appeals - 1, registration = analytics.hist_add(r.registration, e.registration, -1),
             answer = analytics.hist_add(r.answer, e.answer, -1)
       WHERE r.territory_id = e.territory_id AND r.span = e.span AND r.start = e.start;
      DELETE FROM analytics.appeal_times r
       WHERE r.territory_id = e.territory_id AND r.span = e.span AND r.start = e.start AND r.appeals = 0;
    END LOOP;
  END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN
    FOR e IN """
    + ENTRIES.format(source="(SELECT NEW.*)")
    + """ LOOP
      INSERT INTO analytics.appeal_times AS r (territory_id, span, start, appeals, registration, answer)
      VALUES (e.territory_id, e.span, e.start, 1, analytics.hist_add(NULL, e.registration, 1),
              analytics.hist_add(NULL, e.answer, 1))
      ON CONFLICT (territory_id, span, start) DO UPDATE
         SET appeals = r.appeals + 1, registration = analytics.hist_add(r.registration, e.registration, 1),
             answer = analytics.hist_add(r.answer, e.answer, 1);
    END LOOP;
  END IF;
  RETURN NULL;
END
$fn$
"""
)

TRIGGERS = [
    """CREATE TRIGGER appeal_times_insert_delete AFTER INSERT OR DELETE ON analytics.appeals
       FOR EACH ROW EXECUTE FUNCTION analytics.appeal_times_maintain()""",
    """CREATE TRIGGER appeal_times_update AFTER UPDATE ON analytics.appeals FOR EACH ROW
       WHEN (OLD.territory_path IS DISTINCT FROM NEW.territory_path OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
             OR OLD.registered_at IS DISTINCT FROM NEW.registered_at
             OR OLD.answered_at IS DISTINCT FROM NEW.answered_at)
       EXECUTE FUNCTION analytics.appeal_times_maintain()""",
]

BACKFILL = (
    """
INSERT INTO analytics.appeal_times (territory_id, span, start, appeals, registration, answer)
SELECT territory_id, span, start, sum(n) FILTER (WHERE metric = 'a'),
       analytics.hist_from(array_agg(i) FILTER (WHERE metric = 'r'), array_agg(n) FILTER (WHERE metric = 'r')),
       analytics.hist_from(array_agg(i) FILTER (WHERE metric = 'n'), array_agg(n) FILTER (WHERE metric = 'n'))
  FROM (
    SELECT territory_id, span, start, m.metric, m.i, count(*) AS n
      FROM ("""
    + ENTRIES.format(source="analytics.appeals")
    + """) e
      CROSS JOIN LATERAL (VALUES ('a', 0), ('r', e.registration), ('n', e.answer)) m(metric, i)
     WHERE m.i IS NOT NULL
     GROUP BY 1, 2, 3, 4, 5) c
 GROUP BY 1, 2, 3
"""
)


def _problem_days_function(*, deferrable: bool) -> str:
    """Migration 0003's trigger function, with (or, to downgrade, without) the rebuild's switch."""
    spec = importlib.util.spec_from_file_location("m0003", Path(__file__).with_name("0003_problem_days_rollup.py"))
    assert spec is not None
    assert spec.loader is not None
    m0003 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m0003)
    body: str = m0003.TRIGGER_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION")
    return body.replace("BEGIN\n  MERGE", f"BEGIN\n  {DEFER}\n  MERGE") if deferrable else body


def upgrade() -> None:
    op.execute(_problem_days_function(deferrable=True))
    for statement in FUNCTIONS:
        op.execute(statement)
    op.create_table(
        "appeal_times",
        sa.Column("territory_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("span", sa.Text(), nullable=False, comment="'day' or 'week' (starting on Monday)"),
        sa.Column("start", sa.Date(), nullable=False, comment="First local day of the span, territory's time zone."),
        sa.Column("appeals", sa.Integer(), nullable=False, comment="Appeals sent in the span."),
        sa.Column(
            "registration",
            postgresql.ARRAY(sa.Integer()),
            nullable=False,
            comment="Of those registered: how many per bucket of time to registration (analytics.duration_bucket).",
        ),
        sa.Column(
            "answer",
            postgresql.ARRAY(sa.Integer()),
            nullable=False,
            comment="Of those answered: how many per bucket of time to answer.",
        ),
        sa.PrimaryKeyConstraint("territory_id", "span", "start"),
        schema="analytics",
        comment="Rollup of appeals, kept by a trigger on appeals (rebuilt with the appeals model).",
    )
    op.execute(TRIGGER_FUNCTION)
    for statement in TRIGGERS:
        op.execute(statement)
    op.execute(BACKFILL)


def downgrade() -> None:
    op.execute("DROP TRIGGER appeal_times_update ON analytics.appeals")
    op.execute("DROP TRIGGER appeal_times_insert_delete ON analytics.appeals")
    op.execute("DROP FUNCTION analytics.appeal_times_maintain()")
    op.drop_table("appeal_times", schema="analytics")
    op.execute("DROP FUNCTION analytics.hist_from(int[], bigint[])")
    op.execute("DROP FUNCTION analytics.hist_add(int[], int, int)")
    op.execute("DROP FUNCTION analytics.duration_bucket(float8)")
    op.execute(_problem_days_function(deferrable=False))
