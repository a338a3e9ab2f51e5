"""Helpers every use case shares: running a create under an Idempotency-Key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from servicekit.http import idempotency
from servicekit.uow import UnitOfWork


async def run_idempotent(
    uow: UnitOfWork,
    *,
    scope: str,
    key: str | None,
    request: Any,
    work: Callable[[], Awaitable[Any]],
    status_code: int = 201,
) -> tuple[int, Any]:
    """Run ``work`` (which returns a JSON-able body) once per key, inside ``uow``, and commit.

    The same key again replays the first answer; the same key with another request is a 422."""
    if key is not None:
        stored = await idempotency.claim(
            uow.session, uow.tables, scope=scope, key=key, request_fingerprint=idempotency.fingerprint(request)
        )
        if stored is not None:
            return stored.status_code, stored.body
    body = await work()
    if key is not None:
        await idempotency.complete(uow.session, uow.tables, scope=scope, key=key, status_code=status_code, body=body)
    await uow.commit()
    return status_code, body
