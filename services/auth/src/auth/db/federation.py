"""Queries of federated sign-in: identity providers, linked external identities, and the consent a new
federated account still owes."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, exists, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.tables import consents, external_identities, identity_providers, user_roles, users

# --- providers ---------------------------------------------------------------------------------------


async def provider_row(session: AsyncSession, slug: str) -> Any:
    return (await session.execute(select(identity_providers).where(identity_providers.c.slug == slug))).first()


async def enabled_provider_rows(session: AsyncSession) -> list[Any]:
    rows = await session.execute(
        select(identity_providers)
        .where(identity_providers.c.enabled.is_(True))
        .order_by(identity_providers.c.display_name)
    )
    return list(rows)


async def all_provider_rows(session: AsyncSession) -> list[Any]:
    return list(await session.execute(select(identity_providers)))


async def upsert_provider(
    session: AsyncSession, slug: str, display_name: str, settings: dict[str, Any], *, enabled: bool
) -> None:
    statement = insert(identity_providers).values(
        slug=slug, display_name=display_name, settings=settings, enabled=enabled
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[identity_providers.c.slug],
            set_={"display_name": display_name, "settings": settings, "enabled": enabled},
        )
    )


async def set_provider_enabled(session: AsyncSession, slug: str, enabled: bool) -> bool:
    result = await session.execute(
        update(identity_providers)
        .where(identity_providers.c.slug == slug)
        .values(enabled=enabled)
        .returning(identity_providers.c.slug)
    )
    return result.first() is not None


# --- external identities ------------------------------------------------------------------------


async def lock_external_subject(session: AsyncSession, provider: str, subject: str) -> None:
    """Serialise sign-ins of one external subject until the end of the transaction (two callbacks racing
    must not create two accounts)."""
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
        {"key": f"auth.federation:{provider}:{subject}"},
    )


async def identity_by_subject(session: AsyncSession, provider: str, subject: str) -> Any:
    return (
        await session.execute(
            select(external_identities).where(
                external_identities.c.provider == provider, external_identities.c.subject == subject
            )
        )
    ).first()


async def insert_identity(
    session: AsyncSession, *, provider: str, subject: str, user_id: uuid.UUID, claims: dict[str, Any]
) -> None:
    await session.execute(
        external_identities.insert().values(provider=provider, subject=subject, user_id=user_id, claims=claims)
    )


async def update_identity_claims(session: AsyncSession, provider: str, subject: str, claims: dict[str, Any]) -> None:
    await session.execute(
        update(external_identities)
        .where(external_identities.c.provider == provider, external_identities.c.subject == subject)
        .values(claims=claims)
    )


async def delete_identity(session: AsyncSession, provider: str, subject: str) -> None:
    await session.execute(
        delete(external_identities).where(
            external_identities.c.provider == provider, external_identities.c.subject == subject
        )
    )


async def identities_of_user(session: AsyncSession, user_id: uuid.UUID) -> list[Any]:
    """The user's linked identities, with the provider's name: for the profile page and the data export."""
    rows = await session.execute(
        select(
            external_identities.c.provider,
            external_identities.c.subject,
            external_identities.c.claims,
            external_identities.c.linked_at,
            identity_providers.c.display_name,
            identity_providers.c.settings,
        )
        .join(identity_providers, identity_providers.c.slug == external_identities.c.provider)
        .where(external_identities.c.user_id == user_id)
        .order_by(external_identities.c.linked_at)
    )
    return list(rows)


async def delete_identities_of_user(session: AsyncSession, user_id: uuid.UUID, provider: str) -> int:
    result = await session.execute(
        delete(external_identities)
        .where(external_identities.c.user_id == user_id, external_identities.c.provider == provider)
        .returning(external_identities.c.subject)
    )
    return len(result.all())


# --- accounts ----------------------------------------------------------------------------------------


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> Any:
    """The live account, locked for the rest of the transaction (None if absent or erased)."""
    return (
        await session.execute(
            select(users.c.id, users.c.email, users.c.email_verified_at, users.c.password_hash)
            .where(users.c.id == user_id, users.c.erased_at.is_(None))
            .with_for_update()
        )
    ).first()


async def email_taken(session: AsyncSession, email: str, *, other_than: uuid.UUID | None) -> bool:
    """Whether another account (erased ones included: the address stays reserved until anonymised) has it."""
    condition = users.c.email == email
    if other_than is not None:
        condition = condition & (users.c.id != other_than)
    return bool(await session.scalar(select(exists().where(condition))))


async def set_unverified_email(session: AsyncSession, user_id: uuid.UUID, email: str) -> None:
    await session.execute(
        update(users).where(users.c.id == user_id).values(email=email, email_verified_at=None, updated_at=func.now())
    )


async def mark_email_verified(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(users)
        .where(users.c.id == user_id, users.c.email_verified_at.is_(None))
        .values(email_verified_at=func.now(), updated_at=func.now())
    )


async def role_granted_by(session: AsyncSession, user_id: uuid.UUID, role: str) -> tuple[bool, uuid.UUID | None]:
    """(held, granted_by): ``granted_by`` is None for a role the system granted (a federation link)."""
    row = (
        await session.execute(
            select(user_roles.c.granted_by).where(user_roles.c.user_id == user_id, user_roles.c.role == role)
        )
    ).first()
    return (row is not None, row.granted_by if row is not None else None)


# --- consent ------------------------------------------------------------------------------------------


async def has_consent(session: AsyncSession, user_id: uuid.UUID, version: str) -> bool:
    return bool(
        await session.scalar(
            select(
                exists().where(
                    consents.c.user_id == user_id,
                    consents.c.document_version == version,
                    consents.c.withdrawn_at.is_(None),
                )
            )
        )
    )


async def insert_consent(session: AsyncSession, user_id: uuid.UUID, version: str, *, channel: str) -> None:
    await session.execute(consents.insert().values(user_id=user_id, document_version=version, channel=channel))
