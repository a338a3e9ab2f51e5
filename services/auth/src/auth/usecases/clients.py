"""Use cases of the OAuth client registry (operators' admin API and the demo data).

Each use case is one transaction. The rules of what a client may be are in :mod:`auth.domain.clients`; this
module applies them, stores the client in ``auth.oauth_clients``, and audits every change (ids only).

Secrets
    A confidential client's secret is generated here (32 random bytes, URL-safe), shown once to the caller
    and stored only as an argon2id hash, computed off the event loop. An Idempotency-Key replay of a
    creation answers with the stored response, which never holds the secret (the idempotency table would
    otherwise keep it in clear for a day): whoever lost the first answer rotates the secret.

Disabling
    ``disabled_at`` is set and the client's unrevoked refresh tokens are revoked in the same transaction, so
    a disabled client loses what it was issued except access tokens, which expire within minutes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, Text, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.tables import oauth_clients, refresh_tokens
from auth.db.users import audit
from auth.domain.clients import (
    RESOURCE_SERVER,
    WIDGET,
    ClientDraft,
    ClientSpec,
    check_client,
    check_client_id,
    is_confidential,
)
from auth.domain.secrets import hash_password, new_token, verify_password
from servicekit.app import ServiceContext
from servicekit.http import idempotency


@dataclass(frozen=True)
class Client:
    """A registered client as the registry shows it (never its secret hash)."""

    client_id: str
    name: str
    kind: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    can_introspect: bool
    created_at: datetime
    disabled_at: datetime | None

    @property
    def confidential(self) -> bool:
        return is_confidential(self.kind)


class ClientNotFound(LookupError):
    """No client with this id."""


class ClientConflict(Exception):
    """The change contradicts the registry's state; ``str(error)`` is a Russian message for the operator."""


@dataclass(frozen=True)
class IdempotentRequest:
    """An Idempotency-Key sent with a creation: the key is the operator's own, so ``scope`` names them."""

    scope: str
    key: str
    fingerprint: str


@dataclass(frozen=True)
class Created:
    body: Any
    """The answer stored for Idempotency-Key replays: the client, without its secret."""
    status_code: int
    client_secret: str | None
    """The new secret, shown once; None for a public client and for a replay."""
    replayed: bool


def new_client_secret() -> str:
    return new_token(32)


async def create_client(
    kit: ServiceContext,
    draft: ClientDraft,
    *,
    client_id: str | None,
    actor_id: uuid.UUID | None,
    known_audiences: Iterable[str],
    render: Callable[[Client], Any],
    idempotent: IdempotentRequest | None = None,
) -> Created:
    """Register a client; raises ``InvalidClient`` (the rules), :class:`ClientConflict` (the id is taken, or a
    widget's site is already served by another widget)."""
    if client_id is not None:
        check_client_id(client_id)
    spec = check_client(draft, known_audiences=known_audiences)
    secret = new_client_secret() if spec.confidential else None
    secret_hash = await asyncio.to_thread(hash_password, secret) if secret is not None else None

    async with kit.unit_of_work() as uow:
        if idempotent is not None:
            stored = await idempotency.claim(
                uow.session,
                uow.tables,
                scope=idempotent.scope,
                key=idempotent.key,
                request_fingerprint=idempotent.fingerprint,
            )
            if stored is not None:
                return Created(stored.body, stored.status_code, None, replayed=True)
        client_id = client_id or f"{spec.kind.replace('_', '-')}-{secrets.token_hex(6)}"
        await _refuse_taken_origins(uow.session, spec, client_id)
        row = await _insert(uow.session, client_id, spec, secret_hash)
        if row is None:
            raise ClientConflict(f"Клиент с идентификатором {client_id} уже зарегистрирован.")
        client = _client(row)
        await audit(
            uow.session,
            "client.created",
            actor_id=actor_id,
            subject_id=None,
            details={"client_id": client_id, "kind": spec.kind},
        )
        body = render(client)
        if idempotent is not None:
            await idempotency.complete(
                uow.session, uow.tables, scope=idempotent.scope, key=idempotent.key, status_code=201, body=body
            )
        await uow.commit()
    return Created(body, 201, secret, replayed=False)


async def get_client(kit: ServiceContext, client_id: str) -> Client:
    async with kit.session_factory() as session:
        row = await _select(session, client_id)
    if row is None:
        raise ClientNotFound(client_id)
    return _client(row)


async def list_clients(kit: ServiceContext, *, limit: int, after: str | None, kind: str | None) -> list[Client]:
    """Up to ``limit`` clients in ``client_id`` order, after ``after``; disabled ones too (they show it)."""
    query = select(oauth_clients).order_by(oauth_clients.c.client_id).limit(limit)
    if after is not None:
        query = query.where(oauth_clients.c.client_id > after)
    if kind is not None:
        query = query.where(oauth_clients.c.kind == kind)
    async with kit.session_factory() as session:
        rows = (await session.execute(query)).all()
    return [_client(row) for row in rows]


async def update_client(
    kit: ServiceContext,
    client_id: str,
    changes: dict[str, Any],
    *,
    actor_id: uuid.UUID | None,
    known_audiences: Iterable[str],
) -> Client:
    """Apply ``changes`` (fields of :class:`ClientDraft` other than ``kind``) and check the whole result."""
    if "kind" in changes:
        raise ValueError("the kind of a client does not change")
    async with kit.unit_of_work() as uow:
        row = await _select(uow.session, client_id, for_update=True)
        if row is None:
            raise ClientNotFound(client_id)
        if row.disabled_at is not None:
            raise ClientConflict("Клиент отключён: изменить его нельзя.")
        if not changes:
            return _client(row)
        draft = dataclasses.replace(_draft(row), **changes)
        spec = check_client(draft, known_audiences=known_audiences)
        await _refuse_taken_origins(uow.session, spec, client_id)
        await uow.session.execute(
            update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(**_columns(spec))
        )
        await audit(
            uow.session,
            "client.updated",
            actor_id=actor_id,
            subject_id=None,
            details={"client_id": client_id, "fields": sorted(changes)},
        )
        row = await _select(uow.session, client_id)
        await uow.commit()
    return _client(row)


async def rotate_secret(kit: ServiceContext, client_id: str, *, actor_id: uuid.UUID | None) -> str:
    """A new secret for a confidential client, returned once; the old one stops working at once."""
    secret = new_client_secret()
    secret_hash = await asyncio.to_thread(hash_password, secret)
    async with kit.unit_of_work() as uow:
        row = await _select(uow.session, client_id, for_update=True)
        if row is None:
            raise ClientNotFound(client_id)
        if not is_confidential(row.kind):
            raise ClientConflict("У публичного клиента (веб, приложение, виджет) нет секрета.")
        if row.disabled_at is not None:
            raise ClientConflict("Клиент отключён: новый секрет ему не выдаётся.")
        await uow.session.execute(
            update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(secret_hash=secret_hash)
        )
        await audit(
            uow.session, "client.secret_rotated", actor_id=actor_id, subject_id=None, details={"client_id": client_id}
        )
        await uow.commit()
    return secret


async def disable_client(kit: ServiceContext, client_id: str, *, actor_id: uuid.UUID | None) -> Client:
    """Disable a client (idempotent: a second call changes nothing) and revoke its refresh tokens."""
    async with kit.unit_of_work() as uow:
        row = await _select(uow.session, client_id, for_update=True)
        if row is None:
            raise ClientNotFound(client_id)
        if row.disabled_at is None:
            await uow.session.execute(
                update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(disabled_at=func.now())
            )
            await uow.session.execute(
                update(refresh_tokens)
                .where(refresh_tokens.c.client_id == client_id, refresh_tokens.c.revoked_at.is_(None))
                .values(revoked_at=func.now())
            )
            await audit(
                uow.session, "client.disabled", actor_id=actor_id, subject_id=None, details={"client_id": client_id}
            )
            row = await _select(uow.session, client_id)
        await uow.commit()
    return _client(row)


async def ensure_client(session: AsyncSession, client_id: str, spec: ClientSpec, *, secret: str | None) -> bool:
    """Make the client exist exactly as ``spec`` says, enabled, with ``secret`` (for the demo data; call inside
    a unit of work). An existing hash that already verifies ``secret`` is kept. True if anything changed."""
    row = await _select(session, client_id, for_update=True)
    secret_hash: str | None = None
    if secret is not None:
        keep = row is not None and await asyncio.to_thread(verify_password, secret, row.secret_hash)
        secret_hash = row.secret_hash if keep and row is not None else await asyncio.to_thread(hash_password, secret)
    values = {**_columns(spec), "kind": spec.kind, "secret_hash": secret_hash, "disabled_at": None}
    if row is None:
        await session.execute(insert(oauth_clients).values(client_id=client_id, **values))
        return True
    if all(_same(getattr(row, name), value) for name, value in values.items()):
        return False
    await session.execute(update(oauth_clients).where(oauth_clients.c.client_id == client_id).values(**values))
    return True


# --- queries on auth.oauth_clients (could move to auth/db/clients.py) -----------------------------------


async def _select(session: AsyncSession, client_id: str, *, for_update: bool = False) -> Any:
    query = select(oauth_clients).where(oauth_clients.c.client_id == client_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).first()


async def _insert(session: AsyncSession, client_id: str, spec: ClientSpec, secret_hash: str | None) -> Any:
    result = await session.execute(
        insert(oauth_clients)
        .values(client_id=client_id, kind=spec.kind, secret_hash=secret_hash, **_columns(spec))
        .on_conflict_do_nothing(index_elements=[oauth_clients.c.client_id])
        .returning(*oauth_clients.c)
    )
    return result.first()


async def _refuse_taken_origins(session: AsyncSession, spec: ClientSpec, client_id: str) -> None:
    """One widget per municipal site: no origin of a widget belongs to another enabled widget."""
    if spec.kind != WIDGET:
        return
    # Serialise widget registrations, so two operators cannot register one site twice at the same moment.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('auth.oauth_clients.widget_origins'))"))
    row = (
        await session.execute(
            select(oauth_clients.c.client_id, oauth_clients.c.allowed_origins)
            .where(
                oauth_clients.c.kind == WIDGET,
                oauth_clients.c.disabled_at.is_(None),
                oauth_clients.c.client_id != client_id,
                oauth_clients.c.allowed_origins.op("&&")(literal(list(spec.allowed_origins), ARRAY(Text))),
            )
            .order_by(oauth_clients.c.client_id)
            .limit(1)
        )
    ).first()
    if row is not None:
        taken = ", ".join(origin for origin in spec.allowed_origins if origin in row.allowed_origins)
        raise ClientConflict(f"Сайт {taken} уже обслуживает виджет {row.client_id}: на один сайт — один виджет.")


def _columns(spec: ClientSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "redirect_uris": list(spec.redirect_uris),
        "post_logout_redirect_uris": list(spec.post_logout_redirect_uris),
        "allowed_origins": list(spec.allowed_origins),
        "grant_types": list(spec.grant_types),
        "scopes": list(spec.scopes),
        "audiences": list(spec.audiences),
        "can_introspect": spec.can_introspect,
    }


def _same(stored: Any, wanted: Any) -> bool:
    return list(stored) == wanted if isinstance(wanted, list) else bool(stored == wanted)


def _draft(row: Any) -> ClientDraft:
    return ClientDraft(
        kind=row.kind,
        name=row.name,
        redirect_uris=tuple(row.redirect_uris),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
        allowed_origins=tuple(row.allowed_origins),
        grant_types=tuple(row.grant_types),
        scopes=tuple(row.scopes),
        audiences=tuple(row.audiences),
        can_introspect=row.can_introspect if row.kind == RESOURCE_SERVER else None,
    )


def _client(row: Any) -> Client:
    return Client(
        client_id=row.client_id,
        name=row.name,
        kind=row.kind,
        redirect_uris=tuple(row.redirect_uris),
        post_logout_redirect_uris=tuple(row.post_logout_redirect_uris),
        allowed_origins=tuple(row.allowed_origins),
        grant_types=tuple(row.grant_types),
        scopes=tuple(row.scopes),
        audiences=tuple(row.audiences),
        can_introspect=row.can_introspect,
        created_at=row.created_at,
        disabled_at=row.disabled_at,
    )
