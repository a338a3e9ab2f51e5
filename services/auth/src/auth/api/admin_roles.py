"""The operators' API for accounts and roles (``/admin/v1``): find an account by e-mail, see, grant and revoke
its roles, read the audit trail. Every endpoint is for operators only: a bearer access token with the role
``operator`` (no token: 401, another role: 403)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel

from auth.domain.roles import OPERATOR
from auth.usecases import roles as roles_uc
from servicekit.app import service_context
from servicekit.http.pagination import Page, PageRequest, make_page, page_request
from servicekit.http.problems import ProblemError
from servicekit.security import Principal, require_role

router = APIRouter(prefix="/admin/v1", tags=["admin: accounts and roles"])

Operator = Annotated[Principal, Depends(require_role(OPERATOR))]
UserId = Annotated[uuid.UUID, Path(description="The account's id.")]
Role = Annotated[str, Path(max_length=64, description="One of the grantable roles (not `citizen`).")]


class UserOut(BaseModel):
    id: uuid.UUID
    email: str | None
    name: str
    roles: list[str]
    created_at: datetime


class GrantOut(BaseModel):
    role: str
    granted_by: uuid.UUID | None
    """The operator who granted it; none for a grant by the system (a DOBRO.RU link, the demo data)."""
    granted_at: datetime | None


class RolesOut(BaseModel):
    user_id: uuid.UUID
    roles: list[str]
    """Effective roles, ``citizen`` included."""
    grants: list[GrantOut]


class AuditEntryOut(BaseModel):
    id: int
    at: datetime
    action: str
    actor_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    details: dict[str, Any]


def _operator_id(principal: Principal) -> uuid.UUID:
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise ProblemError(403, "Роли меняет только оператор, вошедший под своей учётной записью.") from None


def _cursor_value(page: PageRequest, kind: type[Any]) -> Any:
    if page.after is None:
        return None
    try:
        (value,) = page.after
        return kind(value)
    except (TypeError, ValueError):
        raise ProblemError(
            400,
            "Неверный курсор страницы: запросите список с начала.",
            title="Invalid cursor",
            errors=[{"field": "query.cursor", "message": "Неверный курсор страницы."}],
        ) from None


def _not_found() -> ProblemError:
    return ProblemError(404, "Пользователь не найден или его учётная запись удалена.")


def _refused(error: roles_uc.RoleChangeRefused) -> ProblemError:
    if isinstance(error, roles_uc.SelfLockout):
        return ProblemError(409, str(error))
    return ProblemError(422, str(error), errors=[{"field": "path.role", "message": str(error)}])


def _roles_out(result: roles_uc.UserRoles) -> RolesOut:
    return RolesOut(
        user_id=result.user_id,
        roles=result.roles,
        grants=[GrantOut(role=g.role, granted_by=g.granted_by, granted_at=g.granted_at) for g in result.grants],
    )


@router.get("/users", summary="Find accounts by exact e-mail (operators only)")
async def find_users(
    request: Request,
    operator: Operator,
    email: Annotated[str, Query(min_length=3, max_length=320, description="The exact e-mail (case-insensitive).")],
    page: Annotated[PageRequest, Depends(page_request)],
) -> Page[UserOut]:
    """Live (not erased) accounts whose e-mail is exactly this one. Usually one; paginated all the same."""
    found = await roles_uc.find_users_by_email(
        service_context(request), email, after_id=_cursor_value(page, uuid.UUID), limit=page.limit + 1
    )
    items = [UserOut(id=u.id, email=u.email, name=u.name, roles=u.roles, created_at=u.created_at) for u in found]
    return make_page(items, page, lambda user: [str(user.id)])


@router.get("/users/{user_id}/roles", summary="An account's roles (operators only)")
async def get_roles(request: Request, operator: Operator, user_id: UserId) -> RolesOut:
    try:
        return _roles_out(await roles_uc.roles_of(service_context(request), user_id))
    except roles_uc.UserNotFound:
        raise _not_found() from None


@router.put("/users/{user_id}/roles/{role}", summary="Grant a role (operators only; idempotent; audited)")
async def grant_role(request: Request, operator: Operator, user_id: UserId, role: Role) -> RolesOut:
    """Granting a role the account already has changes nothing. A change is audited and published as
    ``auth.user.updated.v1``."""
    try:
        result = await roles_uc.grant(
            service_context(request), operator_id=_operator_id(operator), user_id=user_id, role=role
        )
    except roles_uc.RoleChangeRefused as error:
        raise _refused(error) from None
    except roles_uc.UserNotFound:
        raise _not_found() from None
    return _roles_out(result)


@router.delete("/users/{user_id}/roles/{role}", summary="Revoke a role (operators only; idempotent; audited)")
async def revoke_role(request: Request, operator: Operator, user_id: UserId, role: Role) -> RolesOut:
    """``citizen`` cannot be revoked, nor an operator's own ``operator`` role. Revoking a role the account does
    not have changes nothing. A change is audited and published as ``auth.user.updated.v1``."""
    try:
        result = await roles_uc.revoke(
            service_context(request), operator_id=_operator_id(operator), user_id=user_id, role=role
        )
    except roles_uc.RoleChangeRefused as error:
        raise _refused(error) from None
    except roles_uc.UserNotFound:
        raise _not_found() from None
    return _roles_out(result)


@router.get("/audit", summary="The audit trail, newest first (operators only)")
async def audit_trail(
    request: Request,
    operator: Operator,
    page: Annotated[PageRequest, Depends(page_request)],
    subject_id: Annotated[uuid.UUID | None, Query(description="Only entries about this account.")] = None,
    actor_id: Annotated[uuid.UUID | None, Query(description="Only entries done by this account.")] = None,
) -> Page[AuditEntryOut]:
    entries = await roles_uc.audit_trail(
        service_context(request),
        subject_id=subject_id,
        actor_id=actor_id,
        before_id=_cursor_value(page, int),
        limit=page.limit + 1,
    )
    items = [
        AuditEntryOut(
            id=e.id, at=e.at, action=e.action, actor_id=e.actor_id, subject_id=e.subject_id, details=e.details
        )
        for e in entries
    ]
    return make_page(items, page, lambda entry: [entry.id])
