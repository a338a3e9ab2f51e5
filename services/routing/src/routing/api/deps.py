"""Dependencies shared by the routers: the unit of work, the caller as an official; and the one way a
router answers a write that takes an Idempotency-Key."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Response

from routing.db import queries
from routing.usecases.common import run_idempotent
from servicekit.app import unit_of_work
from servicekit.http.problems import ProblemError
from servicekit.security import Principal, require_role
from servicekit.uow import UnitOfWork

Uow = Annotated[UnitOfWork, Depends(unit_of_work)]
Operator = Annotated[Principal, Depends(require_role("operator"))]
OfficialPrincipal = Annotated[Principal, Depends(require_role("official"))]


@dataclass(frozen=True)
class Official:
    user_id: uuid.UUID
    authorities: list[uuid.UUID]


def user_id_of(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise ProblemError(403, "Этот токен не принадлежит пользователю.") from None


async def current_official(principal: OfficialPrincipal, uow: Uow) -> Official:
    """The caller: role ``official`` AND a member of at least one authority (bound by an invitation)."""
    user_id = user_id_of(principal)
    async with uow:
        scope = await queries.memberships(uow.session, user_id)
    if not scope:
        raise ProblemError(403, "Вы не привязаны ни к одному органу власти: примите приглашение оператора.")
    return Official(user_id, scope)


CurrentOfficial = Annotated[Official, Depends(current_official)]


async def once_per_key(
    uow: UnitOfWork,
    response: Response,
    *,
    scope: str,
    key: str | None,
    request: Any,
    work: Callable[[], Awaitable[Any]],
) -> Any:
    """Run ``work`` in its own transaction once per Idempotency-Key and answer with its body; a retry with the
    same key gets the first answer and its status again (see :func:`routing.usecases.common.run_idempotent`)."""
    async with uow:
        status, body = await run_idempotent(uow, scope=scope, key=key, request=request, work=work)
    response.status_code = status
    return body
