"""Idempotency-Key for POSTs a phone may retry: the same key replays the first answer, effect once.

Inside the use case's unit of work: :func:`claim` the key first, do the work, :func:`complete` with the
answer, commit. A concurrent retry with the same key blocks on the key's row until the first commits, and
then replays its answer; if the first rolled back, the retry does the work itself. Reusing a key with a
different request is refused (422), as the IETF Idempotency-Key draft says.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Header
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.http.problems import ProblemError
from servicekit.tables import KitTables

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
KEY_LIFETIME = timedelta(hours=24)


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: Any


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (a UUID is best); a retry with the same key is not applied twice.",
        ),
    ] = None,
) -> str | None:
    """A FastAPI dependency: the request's key, checked, or None (``async`` to stay out of the thread pool)."""
    if key is not None and not _KEY.match(key):
        raise ProblemError(
            400,
            "Заголовок Idempotency-Key должен содержать от 1 до 255 видимых символов ASCII.",
            title="Invalid Idempotency-Key",
        )
    return key


def fingerprint(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def claim(
    session: AsyncSession, tables: KitTables, *, scope: str, key: str, request_fingerprint: str
) -> StoredResponse | None:
    """Claim ``key`` for this request; return the stored answer if an earlier request already used it."""
    table = tables.idempotency_keys
    inserted = await session.execute(
        insert(table)
        .values(scope=scope, key=key, fingerprint=request_fingerprint)
        .on_conflict_do_nothing()
        .returning(table.c.key)
    )
    if inserted.first() is not None:
        return None
    row = (
        await session.execute(
            select(table.c.fingerprint, table.c.status_code, table.c.response).where(
                table.c.scope == scope, table.c.key == key
            )
        )
    ).one()
    if row.fingerprint != request_fingerprint:
        raise ProblemError(
            422,
            "Этот ключ Idempotency-Key уже использован для другого запроса. Для нового запроса нужен новый ключ.",
            title="Idempotency-Key reused",
        )
    if row.status_code is None:  # only possible if a writer committed without completing: a bug
        raise ProblemError(409, "Предыдущий запрос с этим ключом ещё обрабатывается.", title="In progress")
    return StoredResponse(row.status_code, row.response)


async def complete(
    session: AsyncSession, tables: KitTables, *, scope: str, key: str, status_code: int, body: Any
) -> None:
    table = tables.idempotency_keys
    await session.execute(
        update(table).where(table.c.scope == scope, table.c.key == key).values(status_code=status_code, response=body)
    )


async def purge_expired(session: AsyncSession, tables: KitTables, *, older_than: timedelta = KEY_LIFETIME) -> int:
    table = tables.idempotency_keys
    result = await session.execute(delete(table).where(table.c.created_at < datetime.now(UTC) - older_than))
    return int(getattr(result, "rowcount", 0) or 0)
