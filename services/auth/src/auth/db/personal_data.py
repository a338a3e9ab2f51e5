"""Queries over everything the auth service holds about one person (schema ``auth``): the operators' look-ups
and audit trail, the 152-FZ export, and the statements of an erasure.

Each function takes the session of the caller's unit of work; none commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.tables import (
    audit_log,
    authorization_codes,
    browser_sessions,
    consent_documents,
    consents,
    email_tokens,
    external_identities,
    login_throttle,
    oauth_clients,
    refresh_tokens,
    revoked_access_tokens,
    user_roles,
    users,
)
from auth.db.users import normalise_email

# --- operators' look-ups ---------------------------------------------------------------------------


async def users_with_email(
    session: AsyncSession, email: str, *, after_id: uuid.UUID | None, limit: int
) -> Sequence[Any]:
    """Live accounts whose (normalised) e-mail is exactly ``email``, by id; up to ``limit`` after ``after_id``."""
    query = (
        select(users.c.id, users.c.email, users.c.full_name, users.c.created_at)
        .where(users.c.email == normalise_email(email), users.c.erased_at.is_(None))
        .order_by(users.c.id)
        .limit(limit)
    )
    if after_id is not None:
        query = query.where(users.c.id > after_id)
    return (await session.execute(query)).all()


async def granted_roles(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, set[str]]:
    """The roles stored for each of ``user_ids`` (``citizen`` is implicit and not stored)."""
    result: dict[uuid.UUID, set[str]] = {user_id: set() for user_id in user_ids}
    if user_ids:
        rows = await session.execute(
            select(user_roles.c.user_id, user_roles.c.role).where(user_roles.c.user_id.in_(list(user_ids)))
        )
        for row in rows:
            result[row.user_id].add(row.role)
    return result


async def role_grants(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Any]:
    """The stored grants of one account: role, who granted it (an id or none), when."""
    return (
        await session.execute(
            select(user_roles.c.role, user_roles.c.granted_by, user_roles.c.granted_at)
            .where(user_roles.c.user_id == user_id)
            .order_by(user_roles.c.role)
        )
    ).all()


async def audit_entries(
    session: AsyncSession,
    *,
    subject_id: uuid.UUID | None,
    actor_id: uuid.UUID | None,
    before_id: int | None,
    limit: int,
) -> Sequence[Any]:
    """Audit rows, newest first, optionally of one subject and/or one actor; up to ``limit`` before ``before_id``."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if subject_id is not None:
        query = query.where(audit_log.c.subject_id == subject_id)
    if actor_id is not None:
        query = query.where(audit_log.c.actor_id == actor_id)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    return (await session.execute(query)).all()


async def count_audit_since(session: AsyncSession, *, subject_id: uuid.UUID, action: str, since: datetime) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(audit_log)
        .where(audit_log.c.subject_id == subject_id, audit_log.c.action == action, audit_log.c.at >= since)
    )
    return int(count or 0)


# --- the account itself ----------------------------------------------------------------------------


async def live_account(session: AsyncSession, user_id: uuid.UUID, *, for_update: bool = False) -> Any:
    """The users row of a live (not erased) account, or None; ``for_update`` locks it to the transaction."""
    query = select(users).where(users.c.id == user_id, users.c.erased_at.is_(None))
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


# --- the 152-FZ export -----------------------------------------------------------------------------


async def consents_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Any]:
    return (
        await session.execute(
            select(
                consents.c.document_version,
                consent_documents.c.title.label("document_title"),
                consents.c.accepted_at,
                consents.c.channel,
                consents.c.withdrawn_at,
            )
            .select_from(consents.join(consent_documents))
            .where(consents.c.user_id == user_id)
            .order_by(consents.c.accepted_at, consents.c.id)
        )
    ).all()


async def external_identities_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Any]:
    return (
        await session.execute(
            select(
                external_identities.c.provider,
                external_identities.c.subject,
                external_identities.c.claims,
                external_identities.c.linked_at,
            )
            .where(external_identities.c.user_id == user_id)
            .order_by(external_identities.c.linked_at)
        )
    ).all()


async def active_sessions_of(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> Sequence[Any]:
    """Times only: the session id's hash is a secret of the browser, not data about the person."""
    return (
        await session.execute(
            select(browser_sessions.c.auth_time, browser_sessions.c.expires_at)
            .where(
                browser_sessions.c.user_id == user_id,
                browser_sessions.c.revoked_at.is_(None),
                browser_sessions.c.expires_at > now,
            )
            .order_by(browser_sessions.c.auth_time)
        )
    ).all()


async def refresh_tokens_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Any]:
    """The OAuth grants (refresh tokens) of the account: client, scope, times; never the token hash."""
    return (
        await session.execute(
            select(
                refresh_tokens.c.client_id,
                oauth_clients.c.name.label("client_name"),
                refresh_tokens.c.scope,
                refresh_tokens.c.auth_time,
                refresh_tokens.c.issued_at,
                refresh_tokens.c.expires_at,
                refresh_tokens.c.used_at,
                refresh_tokens.c.revoked_at,
            )
            .select_from(refresh_tokens.join(oauth_clients))
            .where(refresh_tokens.c.user_id == user_id)
            .order_by(refresh_tokens.c.issued_at)
        )
    ).all()


async def authorization_codes_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Any]:
    return (
        await session.execute(
            select(
                authorization_codes.c.client_id,
                authorization_codes.c.redirect_uri,
                authorization_codes.c.scope,
                authorization_codes.c.auth_time,
                authorization_codes.c.expires_at,
                authorization_codes.c.used_at,
            )
            .where(authorization_codes.c.user_id == user_id)
            .order_by(authorization_codes.c.auth_time)
        )
    ).all()


async def email_tokens_of(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Any]:
    """Pending and used e-mail links (the address they went to, times); never the token hash."""
    return (
        await session.execute(
            select(
                email_tokens.c.purpose,
                email_tokens.c.email,
                email_tokens.c.created_at,
                email_tokens.c.expires_at,
                email_tokens.c.used_at,
            )
            .where(email_tokens.c.user_id == user_id)
            .order_by(email_tokens.c.created_at)
        )
    ).all()


def _throttle_key(user_id: uuid.UUID) -> str:
    return f"account:{user_id}"


async def sign_in_throttle_of(session: AsyncSession, user_id: uuid.UUID) -> Any:
    return (
        await session.execute(
            select(login_throttle.c.failures, login_throttle.c.window_started_at, login_throttle.c.locked_until).where(
                login_throttle.c.key == _throttle_key(user_id)
            )
        )
    ).first()


async def audit_about(session: AsyncSession, user_id: uuid.UUID) -> Sequence[Any]:
    """Every audit row whose subject is the user, oldest first."""
    return (
        await session.execute(
            select(audit_log.c.at, audit_log.c.action, audit_log.c.actor_id, audit_log.c.details)
            .where(audit_log.c.subject_id == user_id)
            .order_by(audit_log.c.id)
        )
    ).all()


# --- erasure ---------------------------------------------------------------------------------------


async def erase_account(session: AsyncSession, user_id: uuid.UUID, *, now: datetime) -> None:
    """Remove or anonymise everything personal about the account, and cut every way of signing in as it.

    What stays is keyed by the id only: the anonymised users row (so the id is never reused and can never sign
    in again), revoked sessions and refresh tokens (so a stolen one stays refused), and the audit log.
    """
    await session.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(
            email=None,
            email_verified_at=None,
            password_hash=None,
            full_name="",
            phone=None,
            home_territory=None,
            erased_at=now,
            updated_at=now,
        )
    )
    await session.execute(delete(user_roles).where(user_roles.c.user_id == user_id))
    # Consents are deleted, not kept as "withdrawn": under 152-FZ (art. 9 §2, art. 21 §5) the withdrawal of
    # consent obliges the operator to stop processing and destroy the personal data, and a consent row is
    # itself personal data tied to the person (what they agreed to, when, from which channel). Proof that the
    # account was erased on the person's own request is kept instead as an "account.erased" audit line that
    # carries ids only.
    await session.execute(delete(consents).where(consents.c.user_id == user_id))
    await session.execute(delete(external_identities).where(external_identities.c.user_id == user_id))
    await session.execute(delete(email_tokens).where(email_tokens.c.user_id == user_id))
    # An unused authorization code could still be exchanged for tokens: remove them all.
    await session.execute(delete(authorization_codes).where(authorization_codes.c.user_id == user_id))
    await session.execute(delete(login_throttle).where(login_throttle.c.key == _throttle_key(user_id)))
    await session.execute(
        update(browser_sessions)
        .where(browser_sessions.c.user_id == user_id, browser_sessions.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.user_id == user_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


async def revoke_access_token(session: AsyncSession, jti: str, *, expires_at: datetime) -> None:
    """Deny-list one access token until it would have expired anyway."""
    await session.execute(insert(revoked_access_tokens).values(jti=jti, expires_at=expires_at).on_conflict_do_nothing())
