"""Per-read-model positions in the archive, model locks, and applying runs of events to a read model."""
# ruff: noqa: S608 - only our own SQL (model names, the models' statements) is interpolated; values are bound

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db.projections import EVENTS, ModelSql
from servicekit.events import TYPE_PREFIX

LOCK_NAMESPACE = "analytics.model:"


def _lock_key(model: str) -> str:
    return LOCK_NAMESPACE + model


async def try_lock_for_transaction(conn: AsyncConnection, model: str) -> bool:
    """The live projector's lock on one model for this transaction; False while a rebuild holds it."""
    result = await conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"), {"k": _lock_key(model)})
    return bool(result.scalar_one())


async def lock_for_session(conn: AsyncConnection, model: str) -> None:
    """A rebuild's lock on one model, until :func:`unlock_session`; waits for a projector batch under way."""
    await conn.execute(text("SELECT pg_advisory_lock(hashtext(:k))"), {"k": _lock_key(model)})


async def unlock_session(conn: AsyncConnection, model: str) -> None:
    await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": _lock_key(model)})


async def position(conn: AsyncConnection, model: str) -> tuple[int, int]:
    await conn.execute(
        text("INSERT INTO projection_positions (model) VALUES (:m) ON CONFLICT (model) DO NOTHING"), {"m": model}
    )
    row = (await conn.execute(text("SELECT txid, seq FROM projection_positions WHERE model = :m"), {"m": model})).one()
    return int(row.txid), int(row.seq)


async def set_position(conn: AsyncConnection, model: str, txid: int, seq: int) -> None:
    await conn.execute(
        text(
            "INSERT INTO projection_positions (model, txid, seq, updated_at) VALUES (:m, :t, :s, now())"
            " ON CONFLICT (model) DO UPDATE SET txid = excluded.txid, seq = excluded.seq, updated_at = now()"
        ),
        {"m": model, "t": txid, "s": seq},
    )


async def truncate(conn: AsyncConnection, model: ModelSql) -> None:
    await conn.execute(text(f"TRUNCATE {', '.join(model.tables)}"))


async def vacuum(conn: AsyncConnection, model: ModelSql) -> None:
    """VACUUM (ANALYZE) the model's tables, outside any transaction (the connection must have none open).

    After a rebuild every row of the model is new and most have dead versions beside them (an upsert per event):
    vacuumed in one pass, they are not left for the first readers to check one by one (the rollups' fills
    slowed down by a factor of 40 at a million problems) and the planner has their statistics."""
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(f"VACUUM (ANALYZE) {', '.join(model.tables)}")  # type: ignore[union-attr]


async def defer_rollups(conn: AsyncConnection, deferred: bool) -> None:
    """For this database session, make the rollups' triggers stand aside (a rebuild fills the rollups once at
    the end, :func:`refresh_rollups`) or do their work again."""
    await conn.execute(
        text("SELECT set_config('analytics.defer_rollups', :v, false)"), {"v": "on" if deferred else "off"}
    )


FILL_WORK_MEM = "128MB"


def rollup_chains(models: Sequence[ModelSql]) -> list[dict[str, str]]:
    """The models' rollups (table -> its fill, each once) in chains that can be filled side by side: a rollup
    whose fill reads another rollup follows it in the same chain (``vote_days`` after ``vote_attributions``)."""
    fills: dict[str, str] = {}
    for model in models:
        for table, fill in model.rollups.items():
            fills.setdefault(table, fill)
    chains: list[dict[str, str]] = []
    for table, fill in fills.items():
        chain = next((c for c in chains if any(re.search(rf"\b{t}\b", fill) for t in c)), None)
        if chain is None:
            chains.append({table: fill})
        else:
            chain[table] = fill
    return chains


_INDEXES = text(
    """
    SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname) AS dropping,
           format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
             AS creating
      FROM pg_constraint c
     WHERE c.conrelid = to_regclass(:t) AND c.contype IN ('p', 'u')
    UNION ALL
    SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
      FROM pg_index i
     WHERE i.indrelid = to_regclass(:t) AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)
    """
)


async def refresh_rollups(conn: AsyncConnection, rollups: dict[str, str]) -> None:
    """Fill the given rollups (table -> its fill) afresh from the read models, in this transaction.

    Each table is filled without its indexes, which are built again afterwards, in the same transaction: a sort
    and a build instead of a million inserts at random places of indexes larger than PostgreSQL's buffers."""
    # each fill sorts and groups every row of a model: in memory rather than in files, for this transaction; but
    # with that much memory the planner caches the votes' lateral lookups of appeals in a Memoize node, whose
    # rescan clears all of it for every vote (vote_attributions took 200 s instead of 5 at a million problems)
    await conn.execute(
        text("SELECT set_config('work_mem', :m, true), set_config('enable_memoize', 'off', true)"),
        {"m": FILL_WORK_MEM},
    )
    for table, fill in rollups.items():
        indexes = (await conn.execute(_INDEXES, {"t": table})).all()
        await conn.execute(text(f"TRUNCATE {table}"))
        for index in indexes:
            await conn.execute(text(index.dropping))
        await conn.execute(text(fill))
        for index in indexes:
            await conn.execute(text(index.creating))


FUNCTIONS_VERSION = "7"
"""Bump when the SQL of the models changes, so that pooled connections create the functions again."""

_ROUND_EVENTS = "(SELECT w.data, w.event_id FROM pg_temp.applying w WHERE w.step = this_step AND w.type = this_type)"


def _function_ddl(model: ModelSql) -> list[str]:
    """Session-local (``pg_temp``) objects: the table ``applying`` of the events of a run, each with its step,
    and the function ``apply_<model>(after_txid, after_seq, horizon, batch)``, which applies the next ``batch``
    archived events after the position and below the horizon (see :func:`analytics.db.archive.horizon`) to the
    model and returns the new position, how many events it passed and how many of them the model used.

    The events never leave the server. They are cut into steps (see :mod:`analytics.db.projections`): the events
    before the first one applied alone, a round at a time (the n-th event of each entity in the n-th round),
    then that one alone, and so on; each step's events of one type are applied by one statement."""
    keys = model.routing_keys
    branches = []
    for key, event in sorted(model.each.items()):
        body = " ".join(f"{s.replace(EVENTS, _ROUND_EVENTS)};" for s in event.statements)
        branches.append(f"WHEN '{TYPE_PREFIX}{key}' THEN {body}")
    for key, statements in sorted(model.alone.items()):
        body = " ".join(f"{s};" for s in statements)
        branches.append(
            f"WHEN '{TYPE_PREFIX}{key}' THEN SELECT w.data, w.event_id INTO ev_data, ev_id FROM pg_temp.applying w"
            f" WHERE w.step = this_step; {body}"
        )
    types = ", ".join(f"'{TYPE_PREFIX}{key}'" for key in keys)
    alone = ", ".join(f"'{TYPE_PREFIX}{key}'" for key in sorted(model.alone)) or "NULL"
    entity = " ".join(
        f"WHEN '{TYPE_PREFIX}{key}' THEN a.data ->> '{e.entity}'" for key, e in sorted(model.each.items())
    )
    return [
        """CREATE TEMP TABLE IF NOT EXISTS applying (step int NOT NULL, type text NOT NULL, data jsonb NOT NULL,
                                                    event_id uuid NOT NULL) ON COMMIT DELETE ROWS""",
        "CREATE INDEX IF NOT EXISTS applying_step_idx ON pg_temp.applying (step, type)",
        f"""
CREATE OR REPLACE FUNCTION pg_temp.apply_{model.name}(after_txid bigint, after_seq bigint, horizon bigint, batch int,
                                                    OUT upto_txid bigint, OUT upto_seq bigint, OUT passed int,
                                                    OUT used int)
LANGUAGE plpgsql SET jit = off AS $fn$
DECLARE
  this_step int;
  this_type text;
  ev_data jsonb;
  ev_id uuid;
BEGIN
  SELECT b.txid, b.seq, count(*) OVER () INTO upto_txid, upto_seq, passed
    FROM (SELECT a.txid, a.seq FROM analytics.archive a
           WHERE (a.txid, a.seq) > (after_txid, after_seq) AND a.txid < horizon
           ORDER BY a.txid, a.seq LIMIT batch) b
   ORDER BY b.txid DESC, b.seq DESC LIMIT 1;
  used := 0;
  IF upto_txid IS NULL THEN
    passed := 0;
    RETURN;
  END IF;
  DELETE FROM pg_temp.applying;
  INSERT INTO pg_temp.applying (step, type, data, event_id)
  SELECT dense_rank() OVER (ORDER BY r.segment, r.alone, r.round), r.type, r.data, r.event_id
    FROM (SELECT o.*, CASE WHEN o.alone THEN 0
                           ELSE row_number() OVER (PARTITION BY o.segment, o.alone, o.entity ORDER BY o.txid, o.seq)
                      END AS round
            FROM (SELECT a.txid, a.seq, a.type, a.data, a.event_id, a.type IN ({alone}) AS alone,
                         CASE a.type {entity or "WHEN NULL THEN NULL"} END AS entity,
                         count(*) FILTER (WHERE a.type IN ({alone}))
                           OVER (ORDER BY a.txid, a.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS segment
                    -- the run in the archive's order, by its index, then the model's types: filtered first, a
                    -- generic plan would scan the whole archive for the few types of a model
                    FROM (SELECT x.txid, x.seq, x.type, x.data, x.event_id FROM analytics.archive x
                           WHERE (x.txid, x.seq) > (after_txid, after_seq) AND (x.txid, x.seq) <= (upto_txid, upto_seq)
                             AND x.txid BETWEEN after_txid AND upto_txid
                           ORDER BY x.txid, x.seq LIMIT passed) a
                   WHERE a.type IN ({types})) o) r;
  GET DIAGNOSTICS used = ROW_COUNT;
  FOR this_step, this_type IN SELECT DISTINCT w.step, w.type FROM pg_temp.applying w ORDER BY 1, 2 LOOP
    CASE this_type
      {" ".join(branches)}
    END CASE;
  END LOOP;
END
$fn$
""",
    ]


async def _ensure_function(conn: AsyncConnection, model: ModelSql) -> None:
    info = await conn.get_raw_connection()
    marker = f"analytics.functions.{model.name}"
    if info.info.get(marker) == FUNCTIONS_VERSION:
        return
    for statement in _function_ddl(model):
        await conn.execute(text(statement))
    info.info[marker] = FUNCTIONS_VERSION


def _forget_function(raw: object, model: ModelSql) -> None:
    info = getattr(raw, "info", None)
    if isinstance(info, dict):
        info.pop(f"analytics.functions.{model.name}", None)


@dataclass(frozen=True)
class Applied:
    position: tuple[int, int] | None
    """The position of the last archived event passed (used or not), None when there was none."""
    passed: int
    """How many archived events were passed."""
    used: int
    """How many of the events passed belong to the model."""


async def apply_next(
    conn: AsyncConnection, model: ModelSql, after: tuple[int, int], horizon: int, batch: int
) -> Applied:
    """Apply the next ``batch`` archived events after ``after`` and below ``horizon`` to ``model``, in one
    statement, in this transaction (``pg_temp.apply_<model>``); the caller records the new position.

    The function is created once per database connection; if the transaction that created it rolls back, it is
    gone, so on any failure the marker is dropped and the next call creates it again."""
    raw = await conn.get_raw_connection()
    try:
        await _ensure_function(conn, model)
        row = (
            await conn.execute(
                text(f"SELECT upto_txid, upto_seq, passed, used FROM pg_temp.apply_{model.name}(:t, :s, :h, :b)"),
                {"t": after[0], "s": after[1], "h": horizon, "b": batch},
            )
        ).one()
    except BaseException:
        _forget_function(raw, model)
        raise
    position = None if row.upto_txid is None else (int(row.upto_txid), int(row.upto_seq))
    return Applied(position, int(row.passed), int(row.used))
