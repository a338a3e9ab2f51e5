"""Signing keys: one active RS256 key signs; retired keys stay in the JWKS until their last token expires.

A process keeps the active key in memory (parsing a PEM on every token would dominate issuance) and looks
again every minute, so a rotation done by another process is picked up quickly.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.db.tables import signing_keys

ALGORITHM = "RS256"
CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key: Any
    created_at: datetime

    def sign(self, claims: dict[str, object], *, typ: str = "JWT") -> str:
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid, "typ": typ})


def _new_key() -> tuple[str, str, dict[str, Any]]:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = uuid.uuid4().hex[:16]
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    public_jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return kid, pem, public_jwk


class KeyRing:
    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], *, rotation_days: int, longest_token_ttl: int
    ) -> None:
        self._session_factory = session_factory
        self._rotation = timedelta(days=rotation_days)
        self._longest_ttl = timedelta(seconds=longest_token_ttl)
        self._cached: SigningKey | None = None
        self._cached_at = 0.0
        self._lock = asyncio.Lock()

    async def signing_key(self) -> SigningKey:
        if self._cached is not None and time.monotonic() - self._cached_at < CACHE_SECONDS:
            return self._cached
        async with self._lock:
            if self._cached is None or time.monotonic() - self._cached_at >= CACHE_SECONDS:
                self._cached = await self._load_or_create()
                self._cached_at = time.monotonic()
        return self._cached

    async def rotate(self) -> str:
        """Retire the active key and make a new one; the retired key verifies until its tokens expire."""
        async with self._session_factory() as session, session.begin():
            await _lock_keys(session)
            await self._retire_active(session)
            kid = await _insert_key(session)
        self._cached = None
        return kid

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        now = datetime.now(UTC)
        async with self._session_factory() as session:
            rows = await session.execute(
                select(signing_keys.c.public_jwk)
                .where(or_(signing_keys.c.unpublish_after.is_(None), signing_keys.c.unpublish_after > now))
                .order_by(signing_keys.c.created_at.desc())
            )
            return {"keys": [row.public_jwk for row in rows]}

    async def _load_or_create(self) -> SigningKey:
        async with self._session_factory() as session, session.begin():
            row = await _active(session)
            if row is None or datetime.now(UTC) - row.created_at > self._rotation:
                await _lock_keys(session)
                row = await _active(session)  # another process may have just done it
                if row is None or datetime.now(UTC) - row.created_at > self._rotation:
                    await self._retire_active(session)
                    await _insert_key(session)
                    row = await _active(session)
            assert row is not None
        private = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
        return SigningKey(row.kid, private, row.created_at)

    async def _retire_active(self, session: AsyncSession) -> None:
        now = datetime.now(UTC)
        await session.execute(
            update(signing_keys)
            .where(signing_keys.c.retired_at.is_(None))
            .values(retired_at=now, unpublish_after=now + self._longest_ttl + timedelta(minutes=5))
        )


async def _lock_keys(session: AsyncSession) -> None:
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('auth.signing_keys'))"))


async def _active(session: AsyncSession) -> Any:
    return (
        await session.execute(
            select(signing_keys.c.kid, signing_keys.c.private_pem, signing_keys.c.created_at)
            .where(signing_keys.c.retired_at.is_(None))
            .order_by(signing_keys.c.created_at.desc())
            .limit(1)
        )
    ).first()


async def _insert_key(session: AsyncSession) -> str:
    kid, pem, public_jwk = await asyncio.to_thread(_new_key)
    await session.execute(signing_keys.insert().values(kid=kid, alg=ALGORITHM, private_pem=pem, public_jwk=public_jwk))
    return kid
