"""Map cells off the intake's hot path: the trigger appends deltas, a worker folds them into ``map_cells``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

Migration 0003's trigger upserted ``map_cells`` at commit: every report touched the same few country-level
rows (one per grid level, map, category and status), so concurrent reports queued on those row locks until each
other's commit (WAL flush) ended. Now ``problems_map_cells_sync`` only INSERTs ±1 rows into
``map_cell_deltas`` (no conflicts, no shared rows); ``problems.map_cells_fold()`` (the worker, every few seconds)
moves them into ``map_cells`` in one transaction, and the map reads ``map_cells`` plus the not yet folded deltas,
so it is exact at every moment. ``problems.map_cells_rebuild()`` also empties the deltas.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LEVELS = "ARRAY[2, 4, 6, 8, 10, 12]"  # problems.domain.clusters.CELL_LEVELS
PUBLIC = "status IN ('published', 'sent', 'registered', 'in_work', 'answered', 'solved', 'not_solved', 'forwarded')"


def _sql(template: str) -> str:
    """The SQL with this file's constants put in (no input from anywhere else)."""
    return template.replace("__LEVELS__", LEVELS).replace("__PUBLIC__", PUBLIC)


CELL = """
    floor((ST_X(__ROW__.point) + 180.0) / (360.0 / 2 ^ (l.level + 2)))::int,
    floor((ST_Y(__ROW__.point) + 90.0) / (360.0 / 2 ^ (l.level + 2)))::int
"""

SYNC = """
CREATE OR REPLACE FUNCTION problems.map_cells_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.private = NEW.private AND OLD.status = NEW.status
       AND OLD.map_id = NEW.map_id AND OLD.category_id = NEW.category_id
       AND ST_X(OLD.point) = ST_X(NEW.point) AND ST_Y(OLD.point) = ST_Y(NEW.point) THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND NOT OLD.private AND OLD.__PUBLIC__ THEN
        INSERT INTO problems.map_cell_deltas (level, cell_x, cell_y, map_id, category_id, status, n, sum_lon, sum_lat)
        SELECT l.level, __OLD_CELL__, OLD.map_id, OLD.category_id, OLD.status, -1, -ST_X(OLD.point), -ST_Y(OLD.point)
          FROM unnest(__LEVELS__) AS l(level);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NOT NEW.private AND NEW.__PUBLIC__ THEN
        INSERT INTO problems.map_cell_deltas (level, cell_x, cell_y, map_id, category_id, status, n, sum_lon, sum_lat)
        SELECT l.level, __NEW_CELL__, NEW.map_id, NEW.category_id, NEW.status, 1, ST_X(NEW.point), ST_Y(NEW.point)
          FROM unnest(__LEVELS__) AS l(level);
    END IF;
    RETURN NULL;
END
$$
""".replace("__OLD_CELL__", CELL.replace("__ROW__", "OLD")).replace("__NEW_CELL__", CELL.replace("__ROW__", "NEW"))

OLD_SYNC = (
    """
CREATE OR REPLACE FUNCTION problems.map_cells_sync() RETURNS trigger LANGUAGE plpgsql AS $$
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
        INSERT INTO problems.map_cells AS c (level, cell_x, cell_y, map_id, category_id, status, n, sum_lon, sum_lat)
        SELECT l.level, __NEW_CELL__, NEW.map_id, NEW.category_id, NEW.status, 1, ST_X(NEW.point), ST_Y(NEW.point)
          FROM unnest(__LEVELS__) AS l(level)
         ORDER BY l.level
        ON CONFLICT (level, cell_x, cell_y, map_id, category_id, status) DO UPDATE
           SET n = c.n + 1, sum_lon = c.sum_lon + excluded.sum_lon, sum_lat = c.sum_lat + excluded.sum_lat;
    END IF;
    RETURN NULL;
END
$$
"""
).replace("__NEW_CELL__", CELL.replace("__ROW__", "NEW"))

FOLD = """
CREATE FUNCTION problems.map_cells_fold() RETURNS bigint LANGUAGE sql AS $$
    WITH moved AS (
        DELETE FROM problems.map_cell_deltas RETURNING *
    ), summed AS (
        SELECT level, cell_x, cell_y, map_id, category_id, status,
               sum(n)::int AS n, sum(sum_lon) AS sum_lon, sum(sum_lat) AS sum_lat, count(*) AS deltas
          FROM moved
         GROUP BY 1, 2, 3, 4, 5, 6
    ), applied AS (
        INSERT INTO problems.map_cells AS c (level, cell_x, cell_y, map_id, category_id, status, n, sum_lon, sum_lat)
        SELECT level, cell_x, cell_y, map_id, category_id, status, n, sum_lon, sum_lat
          FROM summed
         ORDER BY 1, 2, 3, 4, 5, 6
        ON CONFLICT (level, cell_x, cell_y, map_id, category_id, status) DO UPDATE
           SET n = c.n + excluded.n, sum_lon = c.sum_lon + excluded.sum_lon, sum_lat = c.sum_lat + excluded.sum_lat
    )
    SELECT coalesce(sum(deltas), 0)::bigint FROM summed;
$$
"""

REBUILD = """
CREATE OR REPLACE FUNCTION problems.map_cells_rebuild() RETURNS bigint LANGUAGE sql AS $$
    DELETE FROM problems.map_cell_deltas;
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

OLD_REBUILD = REBUILD.replace("    DELETE FROM problems.map_cell_deltas;\n", "")


def upgrade() -> None:
    op.create_table(
        "map_cell_deltas",
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.Column("cell_x", sa.Integer(), nullable=False),
        sa.Column("cell_y", sa.Integer(), nullable=False),
        sa.Column("map_id", sa.UUID(), nullable=False),
        sa.Column("category_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sum_lon", sa.Float(), nullable=False),
        sa.Column("sum_lat", sa.Float(), nullable=False),
        schema="problems",
        comment="Not yet folded changes of map_cells (+1/-1 per level), appended by the trigger.",
    )
    op.create_index(
        "map_cell_deltas_cell_idx", "map_cell_deltas", ["level", "cell_x", "cell_y"], unique=False, schema="problems"
    )
    op.execute(_sql(SYNC))
    op.execute(_sql(FOLD))
    op.execute(_sql(REBUILD))


def downgrade() -> None:
    op.execute("SELECT problems.map_cells_fold()")
    op.execute(_sql(OLD_REBUILD))
    op.execute(_sql(OLD_SYNC))
    op.execute("DROP FUNCTION IF EXISTS problems.map_cells_fold()")
    op.drop_index("map_cell_deltas_cell_idx", table_name="map_cell_deltas", schema="problems")
    op.drop_table("map_cell_deltas", schema="problems")
