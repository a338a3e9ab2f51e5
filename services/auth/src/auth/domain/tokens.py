"""The claims of the tokens auth issues: access tokens (RFC 9068 JWT profile) and OpenID Connect id_tokens."""

import base64
import hashlib
import uuid
from collections.abc import Iterable
from datetime import datetime


def access_token_claims(
    *,
    issuer: str,
    subject: str,
    client_id: str,
    audience: Iterable[str],
    scope: str,
    roles: Iterable[str],
    issued_at: datetime,
    ttl: int,
    auth_time: datetime | None = None,
) -> dict[str, object]:
    now = int(issued_at.timestamp())
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        "aud": sorted(set(audience)),
        "client_id": client_id,
        "scope": scope,
        "roles": sorted(set(roles)),
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "jti": uuid.uuid4().hex,
    }
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    return claims


def id_token_claims(
    *,
    issuer: str,
    subject: str,
    client_id: str,
    issued_at: datetime,
    ttl: int,
    auth_time: datetime,
    nonce: str | None,
    access_token: str | None,
    profile: dict[str, object],
) -> dict[str, object]:
    now = int(issued_at.timestamp())
    claims: dict[str, object] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "iat": now,
        "exp": now + ttl,
        "auth_time": int(auth_time.timestamp()),
        **profile,
    }
    if nonce:
        claims["nonce"] = nonce
    if access_token:
        claims["at_hash"] = left_half_hash(access_token)
    return claims


def left_half_hash(value: str) -> str:
    """OIDC Core §3.1.3.6: base64url of the left half of SHA-256 (for RS256/ES256)."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).decode().rstrip("=")
