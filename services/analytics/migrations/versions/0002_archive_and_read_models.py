"""The event archive, projection positions, and the read models (directory, problems, appeals, ratings)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:16:30.355973
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


FUNCTIONS = [
    """
CREATE FUNCTION analytics.point_territory(p geometry) RETURNS uuid LANGUAGE sql STABLE AS $$
  SELECT id FROM analytics.territories
   WHERE boundary IS NOT NULL AND ST_Covers(boundary, p)
   ORDER BY area, id LIMIT 1
$$""",
    "COMMENT ON FUNCTION analytics.point_territory(geometry) IS 'The smallest territory whose boundary covers p.'",
    """CREATE FUNCTION analytics.territory_ancestors(tid uuid) RETURNS uuid[] LANGUAGE sql STABLE AS $$
  WITH RECURSIVE up(id, parent_id, depth) AS (
    SELECT id, parent_id, 1 FROM analytics.territories WHERE id = tid
    UNION ALL
    SELECT t.id, t.parent_id, up.depth + 1 FROM analytics.territories t JOIN up ON t.id = up.parent_id
     WHERE up.depth < 16
  )
  SELECT CASE WHEN tid IS NULL THEN '{}'::uuid[]
              ELSE COALESCE((SELECT array_agg(id ORDER BY depth) FROM up), ARRAY[tid]) END
$$""",
    "COMMENT ON FUNCTION analytics.territory_ancestors(uuid) IS 'tid, its parent, ... up to the root.'",
]


def upgrade() -> None:
    op.create_table(
        "appeals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("authority_id", sa.UUID(), nullable=False),
        sa.Column("authority_name", sa.Text(), nullable=False),
        sa.Column("department_id", sa.UUID(), nullable=True),
        sa.Column("territory_id", sa.UUID(), nullable=True),
        sa.Column("territory_path", sa.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registration_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registration_number", sa.Text(), nullable=True),
        sa.Column("answer_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("extensions", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("extended_days", sa.Integer(), server_default="0", nullable=False),
        sa.Column("forwards", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("escalations", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "overdue_flagged", sa.Boolean(), server_default="false", nullable=False, comment="routing said: overdue"
        ),
        sa.Column("delivery_failures", sa.SmallInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="analytics",
    )
    op.create_index("appeals_authority_idx", "appeals", ["authority_id", "sent_at"], unique=False, schema="analytics")
    op.create_index(
        "appeals_open_due_idx",
        "appeals",
        ["answer_due_at"],
        unique=False,
        schema="analytics",
        postgresql_where=sa.text("answered_at IS NULL"),
    )
    op.create_index(
        "appeals_path_gin", "appeals", ["territory_path"], unique=False, schema="analytics", postgresql_using="gin"
    )
    op.create_index("appeals_problem_idx", "appeals", ["problem_id"], unique=False, schema="analytics")
    op.create_table(
        "archive",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column(
            "txid",
            sa.BigInteger(),
            server_default=sa.text("(pg_current_xact_id()::text)::bigint"),
            nullable=False,
            comment="The inserting transaction: the projector reads in (txid, seq) order, below the snapshot xmin.",
        ),
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("event_id"),
        schema="analytics",
        comment="Append-only: every event analytics received, exactly once (unique event id).",
    )
    op.create_index("archive_order_idx", "archive", ["txid", "seq"], unique=False, schema="analytics")
    op.create_table(
        "authorities",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("territory_id", sa.UUID(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="analytics",
    )
    op.create_table(
        "problems",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=True),
        sa.Column("category_code", sa.Text(), nullable=True),
        sa.Column("category_name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "point",
            geoalchemy2.types.Geometry(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column(
            "territory_id", sa.UUID(), nullable=True, comment="The smallest territory whose boundary holds the point."
        ),
        sa.Column(
            "territory_path",
            sa.ARRAY(sa.UUID()),
            server_default="{}",
            nullable=False,
            comment="That territory and all its ancestors.",
        ),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("solved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_count", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="analytics",
    )
    op.create_index(
        "problems_path_gin", "problems", ["territory_path"], unique=False, schema="analytics", postgresql_using="gin"
    )
    op.create_index(
        "problems_point_gist", "problems", ["point"], unique=False, schema="analytics", postgresql_using="gist"
    )
    op.create_index(
        "problems_territory_idx", "problems", ["territory_id", "reported_at"], unique=False, schema="analytics"
    )
    op.create_table(
        "projection_positions",
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("txid", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("model"),
        schema="analytics",
        comment="How far each read model has applied the archive, in (txid, seq) order.",
    )
    op.create_table(
        "territories",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("oktmo", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.UUID(), nullable=True),
        sa.Column("timezone", sa.Text(), nullable=False),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
            ),
            nullable=True,
        ),
        sa.Column(
            "area",
            sa.BigInteger(),
            nullable=True,
            comment="Square metres of the boundary: the smallest covering territory wins.",
        ),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="analytics",
    )
    op.create_index(
        "territories_boundary_gist",
        "territories",
        ["boundary"],
        unique=False,
        schema="analytics",
        postgresql_using="gist",
    )
    op.create_index("territories_parent_idx", "territories", ["parent_id"], unique=False, schema="analytics")
    op.create_table(
        "votes",
        sa.Column("event_id", sa.UUID(), nullable=False),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("appeal_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.Text(), nullable=False, comment="rating | confirmed | reopened"),
        sa.Column("score", sa.SmallInteger(), nullable=False, comment="1..5; a confirmation counts 5, a dispute 1"),
        sa.Column("voted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
        schema="analytics",
    )
    op.create_index("votes_appeal_idx", "votes", ["appeal_id"], unique=False, schema="analytics")
    op.create_index("votes_problem_idx", "votes", ["problem_id"], unique=False, schema="analytics")
    for statement in FUNCTIONS:
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION analytics.territory_ancestors(uuid)")
    op.execute("DROP FUNCTION analytics.point_territory(geometry)")
    op.drop_index("votes_problem_idx", table_name="votes", schema="analytics")
    op.drop_index("votes_appeal_idx", table_name="votes", schema="analytics")
    op.drop_table("votes", schema="analytics")
    op.drop_index("territories_parent_idx", table_name="territories", schema="analytics")
    op.drop_index("territories_boundary_gist", table_name="territories", schema="analytics", postgresql_using="gist")
    op.drop_table("territories", schema="analytics")
    op.drop_table("projection_positions", schema="analytics")
    op.drop_index("problems_territory_idx", table_name="problems", schema="analytics")
    op.drop_index("problems_point_gist", table_name="problems", schema="analytics", postgresql_using="gist")
    op.drop_index("problems_path_gin", table_name="problems", schema="analytics", postgresql_using="gin")
    op.drop_table("problems", schema="analytics")
    op.drop_table("authorities", schema="analytics")
    op.drop_index("archive_order_idx", table_name="archive", schema="analytics")
    op.drop_table("archive", schema="analytics")
    op.drop_index("appeals_problem_idx", table_name="appeals", schema="analytics")
    op.drop_index("appeals_path_gin", table_name="appeals", schema="analytics", postgresql_using="gin")
    op.drop_index(
        "appeals_open_due_idx",
        table_name="appeals",
        schema="analytics",
        postgresql_where=sa.text("answered_at IS NULL"),
    )
    op.drop_index("appeals_authority_idx", table_name="appeals", schema="analytics")
    op.drop_table("appeals", schema="analytics")
