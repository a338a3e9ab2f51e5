"""The append-only event archive, and reading it in the projector's order."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from analytics.db.tables import archive
from servicekit.events import CloudEvent


async def append(session: AsyncSession, event: CloudEvent) -> bool:
    """Append ``event`` unless it is already there (same id); True when it was new."""
    result = await session.execute(
        insert(archive)
        .values(
            event_id=event.id,
            type=event.type,
            source=event.source,
            subject=event.subject,
            time=event.time,
            data=event.data,
        )
        .on_conflict_do_nothing(index_elements=[archive.c.event_id])
        .returning(archive.c.seq)
    )
    return result.first() is not None


_HORIZON = text(
    """
    SELECT COALESCE(min(x.transactionid::text::bigint), 9223372036854775807)
      FROM pg_locks r
      JOIN pg_locks x ON x.pid = r.pid AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted
     WHERE r.locktype = 'relation' AND r.relation IN ('archive'::regclass, 'inbox'::regclass)
       AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND r.mode = 'RowExclusiveLock'
    """
)


async def horizon(conn: AsyncConnection) -> int:
    """The transaction id below which the archive can take no more rows: read the archive in ``(txid, seq)`` order
    below it, in a later statement, and no row can later appear before the position reached.

    It is the smallest transaction id of those still writing to the archive, or to the inbox (the consumer claims
    its events there first, in the transaction that then archives them), found in ``pg_locks``: the holders of a
    row-exclusive lock on either and their transaction ids. Ordering by ``seq`` alone would skip a row whose
    transaction took its ``seq`` first but committed last. Read in its own statement: the archive is then read
    with a later snapshot (READ COMMITTED), which sees every transaction that had finished by then. Only writers
    of the archive hold the projector back, not long transactions elsewhere in the cluster.
    """
    return int((await conn.execute(_HORIZON)).scalar_one())


async def count_conn(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT count(*) FROM archive"))).scalar_one())


async def contains(session: AsyncSession, event_id: object) -> bool:
    result = await session.execute(text("SELECT 1 FROM archive WHERE event_id = :e"), {"e": event_id})
    return result.first() is not None
