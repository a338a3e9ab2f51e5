"""Per-read-model positions in the archive, model locks, and applying runs of events to a read model."""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.db.archive import ArchivedEvent
from analytics.db.projections import ModelSql

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


async def defer_rollups(conn: AsyncConnection, deferred: bool) -> None:
    """For this database session, make the rollups' triggers stand aside (a rebuild fills the rollups once at
    the end, :func:`refresh_rollups`) or do their work again."""
    await conn.execute(
        text("SELECT set_config('analytics.defer_rollups', :v, false)"), {"v": "on" if deferred else "off"}
    )


async def refresh_rollups(conn: AsyncConnection, model: ModelSql) -> None:
    """Fill the model's rollups afresh from the model itself."""
    for table, fill in model.rollups.items():
        await conn.execute(text(f"TRUNCATE {table}"))
        await conn.execute(text(fill))


FUNCTIONS_VERSION = "4"
"""Bump when the SQL of the models changes, so that pooled connections create the functions again."""


def _function_ddl(model: ModelSql) -> list[str]:
    """Session-local (``pg_temp``) functions: one per statement, and ``apply_<model>`` that runs a batch of events
    through them in order. One round trip per batch instead of one per event, with the very same SQL."""
    ddl: list[str] = []
    branches: list[str] = []
    for index, (key, statements) in enumerate(sorted(model.statements.items())):
        calls = []
        for number, statement in enumerate(statements):
            name = f"pg_temp.{model.name}_{index}_{number}"
            body = statement.replace("CAST(:d AS jsonb)", "$1").replace("CAST(:event_id AS uuid)", "$2")
            ddl.append(
                f"CREATE OR REPLACE FUNCTION {name}(jsonb, uuid) RETURNS void LANGUAGE plpgsql"
                f" AS $fn$ DECLARE inserted boolean; BEGIN {body}; END $fn$"
            )
            calls.append(f"PERFORM {name}(datas[i], ids[i]);")
        branches.append(f"WHEN '{key}' THEN {' '.join(calls)}")
    ddl.append(
        f"""
        CREATE OR REPLACE FUNCTION pg_temp.apply_{model.name}(types text[], datas jsonb[], ids uuid[])
        RETURNS void LANGUAGE plpgsql AS $fn$
        BEGIN
          FOR i IN 1 .. COALESCE(array_length(types, 1), 0) LOOP
            CASE types[i]
              {" ".join(branches)}
              ELSE NULL;
            END CASE;
          END LOOP;
        END
        $fn$
        """
    )
    return ddl


async def _ensure_functions(conn: AsyncConnection, model: ModelSql) -> None:
    info = await conn.get_raw_connection()
    marker = f"analytics.functions.{model.name}"
    if info.info.get(marker) == FUNCTIONS_VERSION:
        return
    for statement in _function_ddl(model):
        await conn.execute(text(statement))
    info.info[marker] = FUNCTIONS_VERSION


def _forget_functions(raw: object, model: ModelSql) -> None:
    info = getattr(raw, "info", None)
    if isinstance(info, dict):
        info.pop(f"analytics.functions.{model.name}", None)


async def apply(conn: AsyncConnection, model: ModelSql, events: Sequence[ArchivedEvent]) -> None:
    """Apply ``events`` to ``model`` in order, in one round trip (``pg_temp.apply_<model>``).

    The functions are created once per database connection; if the transaction that created them rolls back,
    they are gone, so on any failure the marker is dropped and the next batch creates them again."""
    relevant = [e for e in events if e.routing_key in model.statements]
    if not relevant:
        return
    raw = await conn.get_raw_connection()
    try:
        await _ensure_functions(conn, model)
        await conn.execute(
            text(
                f"SELECT pg_temp.apply_{model.name}(CAST(:types AS text[]), CAST(CAST(:datas AS text[]) AS jsonb[]),"
                " CAST(:ids AS uuid[]))"
            ),
            {
                "types": [e.routing_key for e in relevant],
                "datas": [json.dumps(e.data) for e in relevant],
                "ids": [e.event_id for e in relevant],
            },
        )
    except BaseException:
        _forget_functions(raw, model)
        raise
