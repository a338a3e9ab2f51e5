"""Dependencies shared by the problems routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from problems.settings import ProblemsSettings
from problems.storage import PhotoStorage
from servicekit.app import unit_of_work
from servicekit.security import Principal, current_principal, optional_principal, require_role
from servicekit.uow import UnitOfWork


def problems_settings(request: Request) -> ProblemsSettings:
    settings: ProblemsSettings = request.app.state.kit.settings
    return settings


def photo_storage(request: Request) -> PhotoStorage:
    storage: PhotoStorage = request.app.state.photo_storage
    return storage


Settings = Annotated[ProblemsSettings, Depends(problems_settings)]
Storage = Annotated[PhotoStorage, Depends(photo_storage)]
Uow = Annotated[UnitOfWork, Depends(unit_of_work)]
Caller = Annotated[Principal, Depends(current_principal)]
MaybeCaller = Annotated[Principal | None, Depends(optional_principal)]
Moderator = Annotated[Principal, Depends(require_role("moderator"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]
