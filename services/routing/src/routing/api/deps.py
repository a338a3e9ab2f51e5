"""Dependencies shared by the routers: the unit of work, the caller as an official."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from routing.db import queries
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
