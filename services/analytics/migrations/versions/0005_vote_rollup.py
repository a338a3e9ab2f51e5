"""Rollup read models of the people's rating: ``vote_attributions`` (each vote with the department it counts
for: its appeal's, or for a vote naming no appeal its problem's latest appeal's) and ``vote_days`` (votes per
territory of that appeal's path, local day or week, department), kept by triggers on ``votes`` and ``appeals``.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 22:50:00
"""

# ruff: noqa: S608 - only our own SQL fragments are put together here
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DEFER = """IF current_setting('analytics.defer_rollups', true) = 'on' THEN
    RETURN NULL;  -- a rebuild computes the rollups afterwards, all at once
  END IF;"""

# The attribution of votes (of the problems in {problems}, a uuid[] expression, or all): a vote naming an appeal
# belongs to it, a vote naming none to its problem's latest appeal (ties broken by id, so that it is a function
# of the tables); a vote whose appeal is unknown yet counts for nobody.
ATTRIBUTION = """
SELECT v.event_id, v.problem_id, v.voted_at, v.kind, v.score, a.territory_path,
       COALESCE(a.department_id, a.authority_id) AS unit_id, a.department_id IS NOT NULL AS via_department,
       a.authority_name
  FROM analytics.votes v
  JOIN LATERAL (
    SELECT x.territory_path, x.department_id, x.authority_id, x.authority_name FROM analytics.appeals x
     WHERE x.id = v.appeal_id
    UNION ALL
    (SELECT x.territory_path, x.department_id, x.authority_id, x.authority_name FROM analytics.appeals x
      WHERE v.appeal_id IS NULL AND x.problem_id = v.problem_id ORDER BY x.sent_at DESC NULLS LAST, x.id LIMIT 1)
  ) a ON true
 WHERE {where}
"""

# The rollup rows of attributions ({source}), per territory of the path and span.
DAYS = """
SELECT t.id AS territory_id, s.span, s.start, r.unit_id, r.via_department, r.authority_name,
       count(*)::int AS votes, sum(r.score)::int AS total,
       (count(*) FILTER (WHERE r.kind = 'rating'))::int AS ratings,
       (count(*) FILTER (WHERE r.kind = 'confirmed'))::int AS confirmations,
       (count(*) FILTER (WHERE r.kind = 'reopened'))::int AS disputes
  FROM {source} r
  JOIN analytics.territories t ON t.id = ANY(r.territory_path)
  CROSS JOIN LATERAL (SELECT (r.voted_at AT TIME ZONE t.timezone)::date AS day) d
  CROSS JOIN LATERAL (VALUES ('day', d.day), ('week', date_trunc('week', d.day::timestamp)::date)) s(span, start)
 WHERE {where}
 GROUP BY 1, 2, 3, 4, 5, 6
"""

COLUMNS = "territory_id, span, start, unit_id, via_department, authority_name, votes, total, ratings, confirmations,"
COLUMNS += " disputes"

_SUMS = ("votes", "total", "ratings", "confirmations", "disputes")
_KEY = "(territory_id, span, start, unit_id, via_department, authority_name)"

# Takes the problems' attributions (and their counts) away, and attributes their votes afresh (and counts them).
REATTRIBUTE = (
    """
CREATE FUNCTION analytics.reattribute_votes(problems uuid[]) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  WITH gone AS (DELETE FROM analytics.vote_attributions WHERE problem_id = ANY(problems) RETURNING *),
       d AS ("""
    + DAYS.format(source="gone", where="true")
    + """)
  UPDATE analytics.vote_days r SET """
    + ", ".join(f"{c} = r.{c} - d.{c}" for c in _SUMS)
    + """
    FROM d WHERE (r.territory_id, r.span, r.start, r.unit_id, r.via_department, r.authority_name)
               = (d.territory_id, d.span, d.start, d.unit_id, d.via_department, d.authority_name);
  DELETE FROM analytics.vote_days WHERE votes = 0;
  WITH made AS (INSERT INTO analytics.vote_attributions """
    + ATTRIBUTION.format(where="v.problem_id = ANY(problems)")
    + f""" RETURNING *)
  INSERT INTO analytics.vote_days AS r ({COLUMNS}) """
    + DAYS.format(source="made", where="true")
    + f"""
  ON CONFLICT {_KEY} DO UPDATE SET """
    + ", ".join(f"{c} = r.{c} + excluded.{c}" for c in _SUMS)
    + """;
END
$fn$
"""
)

TRIGGER_FUNCTION = f"""
CREATE FUNCTION analytics.vote_rollups_maintain() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  {DEFER}
  PERFORM analytics.reattribute_votes(ARRAY(
    SELECT DISTINCT p FROM unnest(ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.problem_id END,
                                        CASE WHEN TG_OP <> 'DELETE' THEN NEW.problem_id END]) p
     WHERE p IS NOT NULL));
  RETURN NULL;
END
$fn$
"""

TRIGGERS = [
    """CREATE TRIGGER vote_rollups_votes AFTER INSERT OR DELETE OR UPDATE ON analytics.votes
       FOR EACH ROW EXECUTE FUNCTION analytics.vote_rollups_maintain()""",
    """CREATE TRIGGER vote_rollups_appeals_insert_delete AFTER INSERT OR DELETE ON analytics.appeals
       FOR EACH ROW EXECUTE FUNCTION analytics.vote_rollups_maintain()""",
    """CREATE TRIGGER vote_rollups_appeals_update AFTER UPDATE ON analytics.appeals FOR EACH ROW
       WHEN (OLD.problem_id IS DISTINCT FROM NEW.problem_id OR OLD.territory_path IS DISTINCT FROM NEW.territory_path
             OR OLD.department_id IS DISTINCT FROM NEW.department_id
             OR OLD.authority_id IS DISTINCT FROM NEW.authority_id
             OR OLD.authority_name IS DISTINCT FROM NEW.authority_name OR OLD.sent_at IS DISTINCT FROM NEW.sent_at)
       EXECUTE FUNCTION analytics.vote_rollups_maintain()""",
]

BACKFILL = [
    "INSERT INTO analytics.vote_attributions " + ATTRIBUTION.format(where="true"),
    f"INSERT INTO analytics.vote_days ({COLUMNS}) " + DAYS.format(source="analytics.vote_attributions", where="true"),
]


def upgrade() -> None:
    op.create_table(
        "vote_attributions",
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("problem_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("score", sa.SmallInteger(), nullable=False),
        sa.Column("territory_path", postgresql.ARRAY(postgresql.UUID(as_uuid=True)), nullable=False),
        sa.Column("unit_id", postgresql.UUID(as_uuid=True), nullable=False, comment="department, else authority"),
        sa.Column("via_department", sa.Boolean(), nullable=False),
        sa.Column("authority_name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="analytics",
        comment="Each vote with the appeal it counts for (kept by triggers on votes and appeals).",
    )
    op.create_index("vote_attributions_problem_idx", "vote_attributions", ["problem_id"], schema="analytics")
    op.create_table(
        "vote_days",
        sa.Column("territory_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("span", sa.Text(), nullable=False, comment="'day' or 'week' (starting on Monday)"),
        sa.Column("start", sa.Date(), nullable=False, comment="First local day of the span, territory's time zone."),
        sa.Column("unit_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("via_department", sa.Boolean(), nullable=False),
        sa.Column("authority_name", sa.Text(), nullable=False),
        sa.Column("votes", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("ratings", sa.Integer(), nullable=False),
        sa.Column("confirmations", sa.Integer(), nullable=False),
        sa.Column("disputes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("territory_id", "span", "start", "unit_id", "via_department", "authority_name"),
        schema="analytics",
        comment="Votes per territory, local day or week, department (kept with vote_attributions).",
    )
    # a row whose counts fall to zero goes (a function of the tables): found by this index, empty but a moment
    op.create_index(
        "vote_days_emptied", "vote_days", ["territory_id"], schema="analytics", postgresql_where=sa.text("votes = 0")
    )
    op.execute(REATTRIBUTE)
    op.execute(TRIGGER_FUNCTION)
    for statement in TRIGGERS:
        op.execute(statement)
    for statement in BACKFILL:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER vote_rollups_appeals_update ON analytics.appeals")
    op.execute("DROP TRIGGER vote_rollups_appeals_insert_delete ON analytics.appeals")
    op.execute("DROP TRIGGER vote_rollups_votes ON analytics.votes")
    op.execute("DROP FUNCTION analytics.vote_rollups_maintain()")
    op.execute("DROP FUNCTION analytics.reattribute_votes(uuid[])")
    op.drop_table("vote_days", schema="analytics")
    op.drop_table("vote_attributions", schema="analytics")
