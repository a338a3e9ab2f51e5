"""Queries on the OAuth side of schema ``auth``: clients, authorization codes, refresh tokens, revoked access
tokens. Codes and refresh tokens are looked up by their SHA-256 (``auth.domain.secrets.token_hash``); the raw
values never reach the database.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import any_, delete, func, literal, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db.tables import authorization_codes, oauth_clients, refresh_tokens, revoked_access_tokens

CLIENT_KINDS = ("web", "mobile", "widget", "partner", "resource_server")
GRANT_TYPES = ("authorization_code", "refresh_token", "client_credentials")


# --- clients ---------------------------------------------------------------------------------------


async def insert_client(
    session: AsyncSession,
    *,
    client_id: str,
    kind: str,
    grant_types: Iterable[str],
    name: str | None = None,
    secret_hash: str | None = None,
    redirect_uris: Iterable[str] = (),
    post_logout_redirect_uris: Iterable[str] = (),
    allowed_origins: Iterable[str] = (),
    scopes: Iterable[str] = (),
    audiences: Iterable[str] = (),
    can_introspect: bool = False,
) -> None:
    """Register an OAuth client (keyword arguments only; this signature is kept stable for the admin API).

    - ``kind``: one of :data:`CLIENT_KINDS` (web, mobile, widget, partner, resource_server).
    - ``secret_hash``: ``auth.domain.secrets.hash_password(secret)`` (argon2id) for a confidential client, which
      then authenticates with ``client_secret_basic`` or ``client_secret_post``; ``None`` makes a public client
      (``token_endpoint_auth_method=none``, PKCE, never ``client_credentials``).
    - ``grant_types``: a subset of :data:`GRANT_TYPES`.
    - ``redirect_uris`` / ``post_logout_redirect_uris``: matched exactly (a ``mobile`` client's loopback
      ``http://127.0.0.1/...`` may take any port, RFC 8252 §7.3).
    - ``allowed_origins``: browser origins (``https://site.example``) echoed by CORS on the token endpoint.
    - ``scopes``: what the client may ask for; ``audiences``: the services its tokens are for (empty: the
      platform's default audiences).
    - ``can_introspect``: a resource server allowed to call ``/oauth2/introspect``.

    Raises ``ValueError`` for an unknown kind or grant type; a duplicate ``client_id`` raises the database's
    ``IntegrityError``.
    """
    if kind not in CLIENT_KINDS:
        raise ValueError(f"unknown client kind {kind!r}")
    grants = list(dict.fromkeys(grant_types))
    unknown = [grant for grant in grants if grant not in GRANT_TYPES]
    if unknown:
        raise ValueError(f"unknown grant types {unknown}")
    await session.execute(
        oauth_clients.insert().values(
            client_id=client_id,
            name=name or client_id,
            kind=kind,
            secret_hash=secret_hash,
            redirect_uris=list(redirect_uris),
            post_logout_redirect_uris=list(post_logout_redirect_uris),
            allowed_origins=list(allowed_origins),
            grant_types=grants,
            scopes=list(dict.fromkeys(scopes)),
            audiences=list(dict.fromkeys(audiences)),
            can_introspect=can_introspect,
        )
    )


async def active_client(session: AsyncSession, client_id: str) -> Any:
    """The client's row, or None if unknown or disabled."""
    if not client_id or len(client_id) > 200:
        return None
    return (
        await session.execute(
            select(oauth_clients).where(oauth_clients.c.client_id == client_id, oauth_clients.c.disabled_at.is_(None))
        )
    ).first()


async def origin_is_registered(session: AsyncSession, origin: str) -> bool:
    """True if some active client lists ``origin`` among its allowed origins (CORS preflight)."""
    row = (
        await session.execute(
            select(literal(1))
            .select_from(oauth_clients)
            .where(oauth_clients.c.disabled_at.is_(None), literal(origin) == any_(oauth_clients.c.allowed_origins))
            .limit(1)
        )
    ).first()
    return row is not None


# --- authorization codes ---------------------------------------------------------------------------


async def insert_code(
    session: AsyncSession,
    *,
    code_hash: str,
    client_id: str,
    user_id: uuid.UUID,
    redirect_uri: str,
    scope: str,
    nonce: str | None,
    code_challenge: str,
    auth_time: datetime,
    expires_at: datetime,
) -> None:
    await session.execute(
        authorization_codes.insert().values(
            code_hash=code_hash,
            client_id=client_id,
            user_id=user_id,
            redirect_uri=redirect_uri,
            scope=scope,
            nonce=nonce,
            code_challenge=code_challenge,
            auth_time=auth_time,
            expires_at=expires_at,
        )
    )


async def code_for_update(session: AsyncSession, code_hash: str) -> Any:
    """The code's row, locked until the end of the transaction: a concurrent exchange waits and then sees it
    used."""
    return (
        await session.execute(
            select(authorization_codes).where(authorization_codes.c.code_hash == code_hash).with_for_update()
        )
    ).first()


async def mark_code_used(session: AsyncSession, code_hash: str, *, token_family: uuid.UUID | None) -> bool:
    """Mark an unused code used, remembering the refresh-token family its exchange started; False if it was
    already used."""
    result = await session.execute(
        update(authorization_codes)
        .where(authorization_codes.c.code_hash == code_hash, authorization_codes.c.used_at.is_(None))
        .values(used_at=func.now(), token_family=token_family)
        .returning(authorization_codes.c.code_hash)
    )
    return result.first() is not None


async def nonce_was_used(session: AsyncSession, client_id: str, nonce: str) -> bool:
    """True if this client already sent this ``nonce`` in an authorization request (a replay)."""
    row = (
        await session.execute(
            select(literal(1))
            .select_from(authorization_codes)
            .where(authorization_codes.c.client_id == client_id, authorization_codes.c.nonce == nonce)
            .limit(1)
        )
    ).first()
    return row is not None


# --- refresh tokens --------------------------------------------------------------------------------


async def insert_refresh_token(
    session: AsyncSession,
    *,
    token_hash: str,
    family_id: uuid.UUID,
    client_id: str,
    user_id: uuid.UUID,
    scope: str,
    auth_time: datetime,
    expires_at: datetime,
) -> None:
    await session.execute(
        refresh_tokens.insert().values(
            token_hash=token_hash,
            family_id=family_id,
            client_id=client_id,
            user_id=user_id,
            scope=scope,
            auth_time=auth_time,
            expires_at=expires_at,
        )
    )


async def refresh_token_for_update(session: AsyncSession, token_hash: str) -> Any:
    """The refresh token's row, locked until the end of the transaction (two concurrent refreshes: one waits,
    then sees it used)."""
    return (
        await session.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash).with_for_update())
    ).first()


async def refresh_token_by_hash(session: AsyncSession, token_hash: str) -> Any:
    return (await session.execute(select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash))).first()


async def mark_refresh_token_used(session: AsyncSession, token_hash: str) -> bool:
    """Rotate: mark the token used if it was not; False means somebody else used it first."""
    result = await session.execute(
        update(refresh_tokens)
        .where(
            refresh_tokens.c.token_hash == token_hash,
            refresh_tokens.c.used_at.is_(None),
            refresh_tokens.c.revoked_at.is_(None),
        )
        .values(used_at=func.now())
        .returning(refresh_tokens.c.token_hash)
    )
    return result.first() is not None


async def revoke_family(session: AsyncSession, family_id: uuid.UUID) -> int:
    """Revoke every refresh token of a family (reuse detected, code replayed, or the client revoked one)."""
    result = await session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- access tokens (JWTs: only revocations are stored) ---------------------------------------------


async def revoke_access_token(session: AsyncSession, jti: str, *, expires_at: datetime) -> None:
    """Deny an access token until it expires anyway."""
    await session.execute(insert(revoked_access_tokens).values(jti=jti, expires_at=expires_at).on_conflict_do_nothing())


async def access_token_revoked(session: AsyncSession, jti: str) -> bool:
    row = (
        await session.execute(
            select(literal(1)).select_from(revoked_access_tokens).where(revoked_access_tokens.c.jti == jti)
        )
    ).first()
    return row is not None


# --- housekeeping ----------------------------------------------------------------------------------


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete expired codes, refresh tokens and access-token revocations (for a periodic job)."""
    deleted = 0
    for table in (authorization_codes, refresh_tokens, revoked_access_tokens):
        result = await session.execute(delete(table).where(table.c.expires_at < now))
        deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted
