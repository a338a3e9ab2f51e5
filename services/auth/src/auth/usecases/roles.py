"""Operators' role management: find an account, see and change its roles, read the audit trail.

Every change is one unit of work holding the change, an audit line (who, whom, when, what; ids only) and the
``auth.user.updated.v1`` event, so the other services learn of it if, and only if, it is committed. Roles are
not personal data, so the event carries them.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from auth.db import personal_data as pd_db
from auth.db import users as users_db
from auth.domain.roles import CITIZEN, GRANTABLE, OPERATOR, ROLES, effective_roles
from servicekit.app import ServiceContext
from servicekit.events import new_event
from servicekit.uow import UnitOfWork

USER_UPDATED = "auth.user.updated.v1"


class RoleChangeRefused(Exception):
    """A role change that is not allowed; ``str(error)`` is a Russian sentence for the operator."""


class UnknownRole(RoleChangeRefused):
    pass


class UserNotFound(Exception):
    pass


class SelfLockout(RoleChangeRefused):
    pass


def check_grantable(role: str) -> None:
    """Raise unless operators may grant and revoke ``role``: ``citizen`` belongs to everyone, always."""
    allowed = ", ".join(sorted(GRANTABLE))
    if role == CITIZEN:
        raise UnknownRole(
            f"Роль «{CITIZEN}» есть у каждого пользователя: её нельзя ни выдать, ни отозвать. "
            f"Выдавать можно роли: {allowed}."
        )
    if role not in ROLES:
        raise UnknownRole(f"Такой роли нет. Выдавать можно роли: {allowed}.")


@dataclass(frozen=True)
class UserSummary:
    id: uuid.UUID
    email: str | None
    name: str
    roles: list[str]
    created_at: datetime


@dataclass(frozen=True)
class Grant:
    role: str
    granted_by: uuid.UUID | None
    granted_at: datetime | None


@dataclass(frozen=True)
class UserRoles:
    user_id: uuid.UUID
    roles: list[str]
    """Effective roles, ``citizen`` included."""
    grants: list[Grant]
    """The stored grants (``citizen`` is implicit and has none)."""
    changed: bool = False


async def find_users_by_email(
    kit: ServiceContext, email: str, *, after_id: uuid.UUID | None, limit: int
) -> list[UserSummary]:
    async with kit.unit_of_work() as uow:
        rows = await pd_db.users_with_email(uow.session, email, after_id=after_id, limit=limit)
        roles = await pd_db.granted_roles(uow.session, [row.id for row in rows])
    return [
        UserSummary(
            id=row.id,
            email=row.email,
            name=row.full_name,
            roles=sorted(effective_roles(roles[row.id])),
            created_at=row.created_at,
        )
        for row in rows
    ]


async def _user_roles(session: AsyncSession, user_id: uuid.UUID, *, changed: bool = False) -> UserRoles:
    grants = [Grant(row.role, row.granted_by, row.granted_at) for row in await pd_db.role_grants(session, user_id)]
    return UserRoles(
        user_id=user_id,
        roles=sorted(effective_roles({grant.role for grant in grants})),
        grants=grants,
        changed=changed,
    )


async def roles_of(kit: ServiceContext, user_id: uuid.UUID) -> UserRoles:
    async with kit.unit_of_work() as uow:
        if await users_db.user_by_id(uow.session, user_id) is None:
            raise UserNotFound(str(user_id))
        return await _user_roles(uow.session, user_id)


async def grant(kit: ServiceContext, *, operator_id: uuid.UUID, user_id: uuid.UUID, role: str) -> UserRoles:
    """Grant ``role``; granting a role the user already has changes nothing and records nothing (idempotent)."""
    check_grantable(role)
    async with kit.unit_of_work() as uow:
        if await pd_db.live_account(uow.session, user_id, for_update=True) is None:
            raise UserNotFound(str(user_id))
        changed = await users_db.grant_role(uow.session, user_id, role, by=operator_id)
        result = await _user_roles(uow.session, user_id, changed=changed)
        if changed:
            await _record_change(uow, "role.granted", operator_id=operator_id, result=result, role=role)
        await uow.commit()
    return result


async def revoke(kit: ServiceContext, *, operator_id: uuid.UUID, user_id: uuid.UUID, role: str) -> UserRoles:
    """Revoke ``role``; revoking a role the user does not have changes nothing and records nothing."""
    check_grantable(role)
    if role == OPERATOR and user_id == operator_id:
        # Otherwise the last operator could lock everybody out of the admin API by a slip of the hand.
        raise SelfLockout("Нельзя отозвать роль оператора у самого себя: попросите об этом другого оператора.")
    async with kit.unit_of_work() as uow:
        if await pd_db.live_account(uow.session, user_id, for_update=True) is None:
            raise UserNotFound(str(user_id))
        changed = await users_db.revoke_role(uow.session, user_id, role)
        result = await _user_roles(uow.session, user_id, changed=changed)
        if changed:
            await _record_change(uow, "role.revoked", operator_id=operator_id, result=result, role=role)
        await uow.commit()
    return result


async def _record_change(uow: UnitOfWork, action: str, *, operator_id: uuid.UUID, result: UserRoles, role: str) -> None:
    await users_db.audit(uow.session, action, actor_id=operator_id, subject_id=result.user_id, details={"role": role})
    uow.record(
        new_event(
            USER_UPDATED,
            {"user_id": str(result.user_id), "changed": ["roles"], "roles": result.roles},
            source="auth",
            subject=str(result.user_id),
        )
    )


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    action: str
    actor_id: uuid.UUID | None
    subject_id: uuid.UUID | None
    details: dict[str, Any]


async def audit_trail(
    kit: ServiceContext,
    *,
    subject_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    before_id: int | None,
    limit: int,
) -> Sequence[AuditEntry]:
    async with kit.unit_of_work() as uow:
        rows = await pd_db.audit_entries(
            uow.session, subject_id=subject_id, actor_id=actor_id, before_id=before_id, limit=limit
        )
    return [AuditEntry(row.id, row.at, row.action, row.actor_id, row.subject_id, dict(row.details)) for row in rows]
