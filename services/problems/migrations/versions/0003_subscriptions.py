"""Subscriptions, the e-mail notification queue, the map's cluster cells (kept by a trigger), reading indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22

``map_cells`` holds, per grid level of :data:`problems.domain.clusters.CELL_LEVELS`, cell, map, category and
status, the count and coordinate sums of the public (non-private) problems. The constraint trigger
``problems_map_cells_sync`` keeps it in step; it is DEFERRED to commit time, so a writer holds the (hot, at
country levels) cell rows only for the moment of its commit. ``problems.map_cells_rebuild()`` recomputes the
whole table (after a bulk load with the trigger disabled).
"""

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LEVELS = "ARRAY[2, 4, 6, 8, 10, 12]"  # problems.domain.clusters.CELL_LEVELS
PUBLIC = "status IN ('published', 'sent', 'registered', 'in_work', 'answered', 'solved', 'not_solved', 'forwarded')"


def _sql(template: str) -> str:
    """The SQL with this file's constants put in (no input from anywhere else)."""
    return template.replace("__LEVELS__", LEVELS).replace("__PUBLIC__", PUBLIC)


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(
            "email", sa.Text(), nullable=False, comment="Personal data: deleted with the subscription on erasure."
        ),
        sa.Column("kind", sa.Text(), nullable=False, comment="problem | area | territory"),
        sa.Column("problem_id", sa.UUID(), nullable=True),
        sa.Column(
            "center",
            geoalchemy2.types.Geometry(geometry_type="POINT", srid=4326, spatial_index=False),
            nullable=True,
        ),
        sa.Column("radius_m", sa.Integer(), nullable=True),
        sa.Column("territory_id", sa.UUID(), nullable=True),
        sa.Column("token", sa.Text(), nullable=False, comment="One-click unsubscribe token (random, 256 bits)."),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(kind = 'problem' AND problem_id IS NOT NULL AND center IS NULL AND territory_id IS NULL)"
            " OR (kind = 'area' AND center IS NOT NULL AND radius_m BETWEEN 50 AND 20000 AND problem_id IS NULL)"
            " OR (kind = 'territory' AND territory_id IS NOT NULL AND problem_id IS NULL AND center IS NULL)",
            name="subscriptions_kind_check",
        ),
        sa.ForeignKeyConstraint(["problem_id"], ["problems.problems.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
        schema="problems",
    )
    op.create_index(
        "subscriptions_user_idx", "subscriptions", ["user_id", "created_at", "id"], unique=False, schema="problems"
    )
    op.create_index(
        "subscriptions_problem_uq",
        "subscriptions",
        ["problem_id", "user_id"],
        unique=True,
        schema="problems",
        postgresql_where=sa.text("kind = 'problem'"),
    )
    op.create_index(
        "subscriptions_center_gist",
        "subscriptions",
        ["center"],
        unique=False,
        schema="problems",
        postgresql_using="gist",
        postgresql_where=sa.text("kind = 'area'"),
    )
    op.create_index(
        "subscriptions_territory_idx",
        "subscriptions",
        ["territory_id"],
        unique=False,
        schema="problems",
        postgresql_where=sa.text("kind = 'territory'"),
    )

    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("subscription_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("event_id", sa.UUID(), nullable=False, comment="The status_changed event that caused it."),
        sa.Column("problem_id", sa.UUID(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "state",
            sa.Text(),
            server_default="pending",
            nullable=False,
            comment="pending | sending | sent | failed",
        ),
        sa.Column("attempts", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'sending', 'sent', 'failed')", name="notifications_state_check"),
        sa.ForeignKeyConstraint(["subscription_id"], ["problems.subscriptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        schema="problems",
    )
    op.create_index("notifications_once_uq", "notifications", ["event_id", "user_id"], unique=True, schema="problems")
    op.create_index(
        "notifications_due_idx",
        "notifications",
        ["next_attempt_at"],
        unique=False,
        schema="problems",
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        "notifications_subscription_idx", "notifications", ["subscription_id"], unique=False, schema="problems"
    )

    op.create_table(
        "map_cells",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("cell_x", sa.Integer(), nullable=False),
        sa.Column("cell_y", sa.Integer(), nullable=False),
        sa.Column("map_id", sa.UUID(), nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sum_lon", sa.Float(), nullable=False),
        sa.Column("sum_lat", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("level", "cell_x", "cell_y", "map_id", "category_id", "status", name="map_cells_pkey"),
        schema="problems",
    )

    op.create_index(
        "problems_public_point_gist",
        "problems",
        ["point"],
        unique=False,
        schema="problems",
        postgresql_using="gist",
        postgresql_where=sa.text(f"{PUBLIC} AND NOT private"),
    )
    op.create_index(
        "problems_public_new_idx",
        "problems",
        [sa.text("reported_at DESC"), sa.text("id DESC")],
        unique=False,
        schema="problems",
        postgresql_where=sa.text(f"{PUBLIC} AND NOT private"),
    )
    op.create_index(
        "problems_public_supports_idx",
        "problems",
        [sa.text("supports_count DESC"), sa.text("id DESC")],
        unique=False,
        schema="problems",
        postgresql_where=sa.text(f"{PUBLIC} AND NOT private"),
    )

    op.execute(
        _sql(
            """
        CREATE FUNCTION problems.map_cells_sync() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.private = NEW.private AND OLD.status = NEW.status
               AND OLD.map_id = NEW.map_id AND OLD.category_id = NEW.category_id
               AND ST_X(OLD.point) = ST_X(NEW.point) AND ST_Y(OLD.point) = ST_Y(NEW.point) THEN
                RETURN NULL;
            END IF;
            IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.private AND OLD.__PUBLIC__ THEN
                UPDATE problems.map_cells c
                   SET n = c.n - 1, sum_lon = c.sum_lon - ST_X(OLD.point), sum_lat = c.sum_lat - ST_Y(OLD.point)
                  FROM unnest(__LEVELS__) AS l(level)
                 WHERE c.level = l.level
                   AND c.cell_x = floor((ST_X(OLD.point) + 180.0) / (360.0 / 2 ^ (l.level + 2)))::int
                   AND c.cell_y = floor((ST_Y(OLD.point) + 90.0) / (360.0 / 2 ^ (l.level + 2)))::int
                   AND c.map_id = OLD.map_id AND c.category_id = OLD.category_id AND c.status = OLD.status;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.private AND NEW.__PUBLIC__ THEN
                INSERT INTO problems.map_cells AS c
                       (level, cell_x, cell_y, map_id, category_id, status, n, sum_lon, sum_lat)
                SELECT l.level,
                       floor((ST_X(NEW.point) + 180.0) / (360.0 / 2 ^ (l.level + 2)))::int,
                       floor((ST_Y(NEW.point) + 90.0) / (360.0 / 2 ^ (l.level + 2)))::int,
                       NEW.map_id, NEW.category_id, NEW.status, 1, ST_X(NEW.point), ST_Y(NEW.point)
                  FROM unnest(__LEVELS__) AS l(level)
                 ORDER BY l.level
                ON CONFLICT (level, cell_x, cell_y, map_id, category_id, status) DO UPDATE
                   SET n = c.n + 1, sum_lon = c.sum_lon + excluded.sum_lon, sum_lat = c.sum_lat + excluded.sum_lat;
            END IF;
            RETURN NULL;
        END
        $$
        """
        )
    )
    op.execute(
        """
        CREATE CONSTRAINT TRIGGER problems_map_cells_sync
            AFTER INSERT OR DELETE OR UPDATE OF point, status, map_id, category_id, private ON problems.problems
            DEFERRABLE INITIALLY DEFERRED
            FOR EACH ROW EXECUTE FUNCTION problems.map_cells_sync()
        """
    )
    op.execute(
        _sql(
            """
        CREATE FUNCTION problems.map_cells_rebuild() RETURNS bigint LANGUAGE sql AS $$
            DELETE FROM problems.map_cells;
            INSERT INTO problems.map_cells (level, cell_x, cell_y, map_id, category_id, status, n, sum_lon, sum_lat)
            SELECT l.level,
                   floor((ST_X(p.point) + 180.0) / (360.0 / 2 ^ (l.level + 2)))::int AS cx,
                   floor((ST_Y(p.point) + 90.0) / (360.0 / 2 ^ (l.level + 2)))::int AS cy,
                   p.map_id, p.category_id, p.status, count(*), sum(ST_X(p.point)), sum(ST_Y(p.point))
              FROM problems.problems p CROSS JOIN unnest(__LEVELS__) AS l(level)
             WHERE p.__PUBLIC__ AND NOT p.private
             GROUP BY 1, 2, 3, 4, 5, 6;
            SELECT count(*) FROM problems.map_cells;
        $$
        """
        )
    )
    op.execute("SELECT problems.map_cells_rebuild()")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS problems_map_cells_sync ON problems.problems")
    op.execute("DROP FUNCTION IF EXISTS problems.map_cells_sync()")
    op.execute("DROP FUNCTION IF EXISTS problems.map_cells_rebuild()")
    op.drop_index("problems_public_supports_idx", table_name="problems", schema="problems")
    op.drop_index("problems_public_new_idx", table_name="problems", schema="problems")
    op.drop_index("problems_public_point_gist", table_name="problems", schema="problems")
    op.drop_table("map_cells", schema="problems")
    op.drop_index("notifications_subscription_idx", table_name="notifications", schema="problems")
    op.drop_index("notifications_due_idx", table_name="notifications", schema="problems")
    op.drop_index("notifications_once_uq", table_name="notifications", schema="problems")
    op.drop_table("notifications", schema="problems")
    op.drop_index("subscriptions_territory_idx", table_name="subscriptions", schema="problems")
    op.drop_index("subscriptions_center_gist", table_name="subscriptions", schema="problems")
    op.drop_index("subscriptions_problem_uq", table_name="subscriptions", schema="problems")
    op.drop_index("subscriptions_user_idx", table_name="subscriptions", schema="problems")
    op.drop_table("subscriptions", schema="problems")
