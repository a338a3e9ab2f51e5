"""Loads the auth service's demo data (safe to run twice): ``python -m auth.demo``.

Four accounts with the password ``gorod-demo``, one per role a demo needs: confirmed e-mails, and consent to
the processing of personal data recorded with channel ``demo`` for the document in force (seeded by
:func:`auth.usecases.accounts.ensure_current_consent_document` if there is none). And three OAuth clients:
the public web client ``gorod-web``, the partner ``demo-partner`` (client credentials, Open311 and the read
scopes) and the resource server ``gateway`` (introspection).

Running it again converges on the same state and creates nothing twice: a missing role is granted again, a
changed demo password or secret is set back, a disabled demo client is enabled again. Everything runs in one
transaction under an advisory lock, so two loads at the same time cannot race either.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db import users as users_db
from auth.db.tables import consents, users
from auth.domain import roles
from auth.domain.clients import (
    CLIENT_CREDENTIALS,
    PARTNER,
    READ_SCOPES,
    RESOURCE_SERVER,
    WEB,
    ClientDraft,
    check_client,
)
from auth.domain.secrets import hash_password, verify_password
from auth.settings import AuthSettings
from auth.usecases.accounts import ensure_current_consent_document
from auth.usecases.clients import ensure_client
from servicekit.db import create_engine, create_session_factory
from servicekit.uow import UnitOfWork

PASSWORD = "gorod-demo"  # noqa: S105 - the documented password of the demo accounts
CONSENT_CHANNEL = "demo"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    full_name: str
    roles: tuple[str, ...]
    label: str


ACCOUNTS = (
    DemoAccount("citizen@example.org", "Анна Жителева", (), "житель"),
    DemoAccount("official@example.org", "Пётр Чиновников", (roles.OFFICIAL,), "чиновник"),
    DemoAccount("moderator@example.org", "Мария Модераторова", (roles.MODERATOR,), "модератор"),
    DemoAccount("operator@example.org", "Олег Операторов", (roles.OPERATOR,), "оператор"),
)


@dataclass(frozen=True)
class DemoClient:
    client_id: str
    draft: ClientDraft
    secret: str | None
    line: str


def demo_clients(settings: AuthSettings) -> tuple[DemoClient, ...]:
    web = "http://127.0.0.1:8000"
    partner_audiences = tuple(a for a in settings.default_audiences if a != "auth")
    return (
        DemoClient(
            "gorod-web",
            ClientDraft(
                kind=WEB,
                name="Город — веб-сайт",
                redirect_uris=(f"{web}/callback",),
                post_logout_redirect_uris=(f"{web}/",),
                allowed_origins=(web,),
                scopes=("openid", "profile", "email", "phone", "offline_access", "problems:read", "problems:write"),
            ),
            None,
            f"OAuth-клиент gorod-web (публичный веб-клиент, PKCE): возврат на {web}/callback",
        ),
        DemoClient(
            "demo-partner",
            ClientDraft(
                kind=PARTNER,
                name="Демо-партнёр (Open311)",
                grant_types=(CLIENT_CREDENTIALS,),
                scopes=("open311", "problems:write", *READ_SCOPES),  # Open311 POST reports a problem
                audiences=partner_audiences,
            ),
            "demo-partner-secret",
            "OAuth-клиент demo-partner / demo-partner-secret "
            "(партнёр, client_credentials: open311, подача проблем и чтение)",
        ),
        DemoClient(
            "gateway",
            ClientDraft(kind=RESOURCE_SERVER, name="Шлюз (проверка токенов)", can_introspect=True),
            "gateway-demo-secret",
            "OAuth-клиент gateway / gateway-demo-secret (сервер ресурсов: проверка токенов, introspection)",
        ),
    )


async def load(settings: AuthSettings) -> list[str]:
    """Load demo data; returns lines for the summary ``make up`` prints (URLs, demo accounts)."""
    clients = demo_clients(settings)
    specs = [(c, check_client(c.draft, known_audiences=settings.default_audiences)) for c in clients]
    engine = create_engine(settings, pool_size=1)
    try:
        async with UnitOfWork(create_session_factory(engine), settings.db_schema) as uow:
            await uow.session.execute(text("SELECT pg_advisory_xact_lock(hashtext('auth.demo'))"))
            version = (await ensure_current_consent_document(uow.session)).version
            for account in ACCOUNTS:
                user_id = await _ensure_account(uow.session, account)
                await _ensure_consent(uow.session, user_id, version)
            for client, spec in specs:
                await ensure_client(uow.session, client.client_id, spec, secret=client.secret)
            await uow.commit()
    finally:
        await engine.dispose()
    lines = [f"{account.email} / {PASSWORD} ({account.label})" for account in ACCOUNTS]
    return lines + [client.line for client in clients]


async def _ensure_account(session: AsyncSession, account: DemoAccount) -> uuid.UUID:
    row = await users_db.user_by_email(session, account.email)
    if row is None:
        password_hash = await asyncio.to_thread(hash_password, PASSWORD)
        user_id = await users_db.insert_user(
            session, email=account.email, password_hash=password_hash, full_name=account.full_name, email_verified=True
        )
    else:
        user_id = row.id
        changes: dict[str, Any] = {}
        if not await asyncio.to_thread(verify_password, PASSWORD, row.password_hash):
            changes["password_hash"] = await asyncio.to_thread(hash_password, PASSWORD)
        if row.email_verified_at is None:
            changes["email_verified_at"] = func.now()
        if changes:
            await session.execute(update(users).where(users.c.id == user_id).values(**changes, updated_at=func.now()))
    for role in account.roles:
        await users_db.grant_role(session, user_id, role, by=None)
    return user_id


async def _ensure_consent(session: AsyncSession, user_id: uuid.UUID, version: str) -> None:
    given = (
        await session.execute(
            select(consents.c.id).where(
                consents.c.user_id == user_id,
                consents.c.document_version == version,
                consents.c.withdrawn_at.is_(None),
            )
        )
    ).first()
    if given is None:
        await session.execute(
            consents.insert().values(user_id=user_id, document_version=version, channel=CONSENT_CHANNEL)
        )


def main() -> None:
    for line in asyncio.run(load(AuthSettings())):
        print(line)


if __name__ == "__main__":
    main()
