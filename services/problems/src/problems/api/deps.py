"""Dependencies shared by the problems routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from problems.settings import ProblemsSettings
from problems.storage import PhotoStorage
from servicekit.app import unit_of_work
from servicekit.security import Principal, current_principal, optional_principal, require_role
from servicekit.uow import UnitOfWork

# The dependencies are ``async`` although they await nothing: FastAPI runs a plain ``def`` dependency in its
# thread pool, a hand-off to another thread and back per request that costs more than the function.


async def problems_settings(request: Request) -> ProblemsSettings:
    settings: ProblemsSettings = request.app.state.kit.settings
    return settings


async def photo_storage(request: Request) -> PhotoStorage:
    storage: PhotoStorage = request.app.state.photo_storage
    return storage


def read_connection(request: Request) -> AsyncConnection:
    """A connection for reads outside any unit of work, in autocommit: each statement is its own snapshot, and no
    BEGIN and ROLLBACK round trips surround it (two of the three a one-query map request would otherwise make). A
    bare Core connection, not an ORM session: the map maps no objects, and a session's set-up and close were a tenth
    of a country view's CPU."""
    read_engine: AsyncEngine = request.app.state.read_engine
    return read_engine.connect()


Settings = Annotated[ProblemsSettings, Depends(problems_settings)]
Storage = Annotated[PhotoStorage, Depends(photo_storage)]
Uow = Annotated[UnitOfWork, Depends(unit_of_work)]
Caller = Annotated[Principal, Depends(current_principal)]
MaybeCaller = Annotated[Principal | None, Depends(optional_principal)]
Moderator = Annotated[Principal, Depends(require_role("moderator"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]
