"""The append-only event archive, and reading it in the projector's order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


@dataclass(frozen=True)
class ArchivedEvent:
    seq: int
    event_id: str
    txid: int
    type: str
    subject: str | None
    time: datetime
    data: dict[str, Any]

    @property
    def routing_key(self) -> str:
        return self.type.removeprefix("ru.gorod.")


HORIZON = text(
    """
    SELECT COALESCE(min(x.transactionid::text::bigint), 9223372036854775807)
      FROM pg_locks r
      JOIN pg_locks x ON x.pid = r.pid AND x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted
     WHERE r.locktype = 'relation' AND r.relation = 'archive'::regclass
       AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())
       AND r.mode = 'RowExclusiveLock'
    """
)


async def read_after_conn(conn: AsyncConnection, txid: int, seq: int, limit: int) -> Sequence[ArchivedEvent]:
    """The next archived events after position ``(txid, seq)`` that no transaction still under way can precede.

    Rows are read in ``(txid, seq)`` order, and only those inserted by transactions older than every
    transaction still writing to the archive (found in ``pg_locks``: the holders of a row-exclusive lock on it
    and their transaction ids), so no row can later appear before the returned position. Ordering by ``seq``
    alone would skip a row whose transaction took its ``seq`` first but committed last. The horizon is read in
    its own statement first: the archive is then read with a later snapshot (READ COMMITTED), which sees every
    transaction that had finished by then. Only writers of the archive hold the projector back, not long
    transactions elsewhere in the cluster.
    """
    horizon = int((await conn.execute(HORIZON)).scalar_one())
    rows = await conn.execute(
        text(
            """
            SELECT seq, event_id::text AS event_id, txid, type, subject, time, data FROM archive
             WHERE (txid, seq) > (:txid, :seq) AND txid < :horizon
             ORDER BY txid, seq
             LIMIT :limit
            """
        ),
        {"txid": txid, "seq": seq, "limit": limit, "horizon": horizon},
    )
    return [ArchivedEvent(r.seq, r.event_id, r.txid, r.type, r.subject, r.time, r.data) for r in rows]


async def count_conn(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("SELECT count(*) FROM archive"))).scalar_one())


async def contains(session: AsyncSession, event_id: object) -> bool:
    result = await session.execute(text("SELECT 1 FROM archive WHERE event_id = :e"), {"e": event_id})
    return result.first() is not None
