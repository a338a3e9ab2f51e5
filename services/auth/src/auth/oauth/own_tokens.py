"""Checking the access tokens we issued ourselves (userinfo, introspection, revocation), against the key ring's
own JWKS rather than over HTTP.

Only RS256 with a ``kid`` of our JWKS, ``typ: at+jwt`` (so an id_token is not taken for an access token), our
``iss``, and ``exp``/``iat``/``sub``/``jti`` present; ``alg: none`` or HMAC never pass. The public keys are kept
for a minute per key ring; an unknown ``kid`` reloads them (at most once a second), and the key the ring
signs with right now is always known.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any

import jwt

from auth.usecases.keys import ALGORITHM, KeyRing

CACHE_SECONDS = 60.0
MIN_RELOAD_SECONDS = 1.0
MAX_TOKEN_LENGTH = 16 * 1024
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type, not a secret


class InvalidOwnToken(Exception):
    """Not one of our valid access tokens; ``str(error)`` is a short English reason without the token."""


class OwnKeys:
    """The key ring's public keys by kid, cached."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = -1e9
        self._lock = asyncio.Lock()
        self._current: tuple[str, jwt.PyJWK] | None = None

    async def key(self, kid: str) -> jwt.PyJWK | None:
        current = await self._ring.signing_key()
        if self._current is None or self._current[0] != current.kid:
            self._current = (current.kid, jwt.PyJWK.from_dict(_public_jwk(current.private_key, current.kid)))
        if kid == current.kid:
            return self._current[1]
        now = time.monotonic()
        if kid in self._keys and now - self._loaded_at < CACHE_SECONDS:
            return self._keys[kid]
        async with self._lock:
            if now - self._loaded_at >= MIN_RELOAD_SECONDS:
                jwks = await self._ring.jwks()
                self._keys = {
                    jwk["kid"]: jwt.PyJWK.from_dict(jwk, algorithm=ALGORITHM)
                    for jwk in jwks["keys"]
                    if isinstance(jwk, dict) and jwk.get("kty") == "RSA" and isinstance(jwk.get("kid"), str)
                }
                self._loaded_at = time.monotonic()
        return self._keys.get(kid)


def _public_jwk(private_key: Any, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    return jwk


_own_keys: weakref.WeakKeyDictionary[KeyRing, OwnKeys] = weakref.WeakKeyDictionary()


def own_keys(ring: KeyRing) -> OwnKeys:
    if ring not in _own_keys:
        _own_keys[ring] = OwnKeys(ring)
    return _own_keys[ring]


def unverified_claims(token: str) -> dict[str, Any]:
    """The payload without any check, only to find which client a token names (never to trust it)."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= MAX_TOKEN_LENGTH


async def verify_access_token(ring: KeyRing, token: str, *, issuer: str, verify_exp: bool = True) -> dict[str, Any]:
    """The claims of a valid access token of ours; raises :class:`InvalidOwnToken` otherwise. Revocation is
    the caller's to check (it needs the database)."""
    if not token or not looks_like_jwt(token):
        raise InvalidOwnToken("malformed token")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidOwnToken("malformed token header") from None
    if header.get("alg") != ALGORITHM:
        raise InvalidOwnToken("algorithm not allowed")
    if header.get("typ") != ACCESS_TOKEN_TYP:
        raise InvalidOwnToken("not an access token")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidOwnToken("missing key id")
    key = await own_keys(ring).key(kid)
    if key is None:
        raise InvalidOwnToken("unknown key id")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            issuer=issuer,
            options={
                "verify_aud": False,  # the audience is the resource server's to check; these endpoints are ours
                "verify_exp": verify_exp,
                "require": ["iss", "sub", "exp", "iat", "jti"],
            },
        )
    except jwt.ExpiredSignatureError:
        raise InvalidOwnToken("token expired") from None
    except jwt.PyJWTError as error:
        raise InvalidOwnToken(f"invalid token: {type(error).__name__}") from None
    return claims
