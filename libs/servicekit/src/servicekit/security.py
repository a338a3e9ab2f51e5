"""Verifying OAuth 2.0 JWT access tokens (RFC 9068) and the FastAPI dependencies built on it.

Every service trusts one issuer, the auth service: it publishes its public signing keys as a JWKS, and
:class:`TokenVerifier` checks each bearer token against them.

Key set cache
    The JWKS is fetched lazily on the first token and kept for ``cache_ttl`` seconds. A token whose ``kid``
    is not in the cached set (the issuer has rotated its keys) triggers a refetch, but at most one per
    ``min_refetch_interval`` seconds, so a flood of tokens with made-up kids cannot hammer the auth service.
    Concurrent refetches are coalesced into one HTTP request. A failed fetch is retried no sooner than
    ``min_refetch_interval`` later; meanwhile the last good key set keeps serving for up to
    :data:`STALE_IF_ERROR` seconds past its expiry, so a short outage of the auth service does not log
    everybody out.

Algorithms
    Only the asymmetric algorithms of the allow-list are accepted; ``none`` and ``HS*`` are always refused,
    even if configured. The key is chosen by the token's ``kid`` and must agree with the token's ``alg``:
    its ``kty`` (and curve) must fit the algorithm, and its own ``alg``, when the JWKS states one, must be the
    same. So a public key can never be used as an HMAC secret (key confusion).

Claims
    ``iss`` must equal the issuer, ``aud`` must contain the audience, ``exp``, ``iat`` and ``sub`` must be
    present; times are checked with ``leeway`` seconds of clock skew. The ``typ`` header may be ``at+jwt``
    (RFC 9068), ``application/at+jwt`` or ``JWT``; a token without ``typ`` is accepted as well (it says no
    less than ``JWT``); any other ``typ`` (an ID token, a DPoP proof, a logout token...) is refused.

Verified tokens
    A token that passed is remembered (up to :data:`MAX_VERIFIED_TOKENS`, the oldest forgotten first) with
    its principal, so a client's next requests with the same token skip the signature check and the claims'
    parsing, which cost more than the rest of a small request. A remembered token is only trusted until its
    ``exp`` (plus ``leeway``) and while the key set it was checked against is fresh: every fetch of the key
    set forgets them all, so a withdrawn key stops working at the same time as without the cache. Failures
    are never remembered.

Failures raise :class:`InvalidToken` with a short English reason; the token itself never appears in an
exception message or a log line.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Annotated, Any

import httpx
import jwt
from fastapi import Depends, Request

from servicekit.http.problems import ProblemError

log = logging.getLogger(__name__)

__all__ = [
    "STALE_IF_ERROR",
    "InvalidToken",
    "KeySetUnavailable",
    "Principal",
    "TokenExpired",
    "TokenVerifier",
    "current_principal",
    "optional_principal",
    "require_role",
    "require_scope",
]

STALE_IF_ERROR = 3600.0
"""Seconds past ``cache_ttl`` that the last good key set keeps serving while the JWKS is unreachable."""

MAX_TOKEN_LENGTH = 16 * 1024
"""Longer bearer tokens are refused before any parsing."""

MAX_JWKS_BYTES = 1024 * 1024
"""A larger JWKS response is treated as a failed fetch."""

MAX_VERIFIED_TOKENS = 4096
"""How many verified tokens a verifier remembers (a few MB at most: tokens are a few hundred bytes)."""

REALM = "gorod"

# Which key type (and curve, where it matters) each supported asymmetric algorithm needs.
_KEY_TYPES: dict[str, tuple[str, frozenset[str] | None]] = {
    "RS256": ("RSA", None),
    "RS384": ("RSA", None),
    "RS512": ("RSA", None),
    "PS256": ("RSA", None),
    "PS384": ("RSA", None),
    "PS512": ("RSA", None),
    "ES256": ("EC", frozenset({"P-256"})),
    "ES384": ("EC", frozenset({"P-384"})),
    "ES512": ("EC", frozenset({"P-521"})),
    "ES256K": ("EC", frozenset({"secp256k1"})),
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}

_ACCEPTED_TYP = frozenset({"at+jwt", "application/at+jwt", "jwt", "application/jwt"})
_REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]
_NUMERIC_CLAIMS = ("exp", "iat", "nbf")


class InvalidToken(Exception):
    """The bearer token cannot be trusted; ``str(error)`` is a short English reason without the token."""


class TokenExpired(InvalidToken):
    """The token was valid but its ``exp`` has passed (beyond the leeway)."""


class KeySetUnavailable(InvalidToken):
    """The issuer's key set could not be fetched, so the token could not be checked at all.

    Not the client's fault: the dependencies answer 503 rather than 401 for it.
    """


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified subject of an access token, with its scopes and coarse roles."""

    subject: str
    client_id: str | None = None
    scopes: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()
    """Coarse roles such as ``citizen``, ``official``, ``operator``, ``moderator``, ``chamber_member``,
    ``volunteer``."""
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False, repr=False)
    """All claims of the token, read-only."""

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def has_role(self, role: str) -> bool:
        return role in self.roles


class TokenVerifier:
    """Checks access tokens against the issuer's JWKS; one instance per service, shared by all requests."""

    def __init__(
        self,
        *,
        jwks_url: str,
        issuer: str,
        audience: str,
        algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256", "EdDSA"),
        cache_ttl: float = 300.0,
        min_refetch_interval: float = 10.0,
        leeway: float = 30.0,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        refused = [alg for alg in algorithms if alg not in _KEY_TYPES]
        if refused:
            raise ValueError(f"only asymmetric signature algorithms are allowed, not {refused}")
        if not algorithms:
            raise ValueError("at least one algorithm must be allowed")
        if cache_ttl <= 0 or min_refetch_interval < 0 or leeway < 0:
            raise ValueError("cache_ttl must be positive; min_refetch_interval and leeway not negative")
        self.jwks_url = jwks_url
        self.issuer = issuer
        self.audience = audience
        self.algorithms = tuple(algorithms)
        self.cache_ttl = cache_ttl
        self.min_refetch_interval = min_refetch_interval
        self.leeway = leeway
        self._client = http_client
        self._owns_client = http_client is None
        self._lock = asyncio.Lock()
        # The cached key set: raw JWKs by kid, and the PyJWK built from them per (kid, alg).
        self._keys: dict[str, list[dict[str, Any]]] = {}
        self._prepared: dict[tuple[str, str], jwt.PyJWK | None] = {}
        self._fetched_at: float | None = None  # monotonic time of the last successful fetch
        self._attempted_at: float | None = None  # monotonic time of the last fetch, good or bad
        self._last_failed = False
        self._generation = 0  # bumped by every fetch attempt; lets waiters see that one happened
        # Tokens that passed, with their principal and the wall-clock time (exp + leeway) they expire at.
        self._verified: dict[str, tuple[Principal, float]] = {}

    async def aclose(self) -> None:
        """Close the HTTP client if this verifier created it (a client passed in belongs to the caller)."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token; raises :class:`InvalidToken` (or a subclass) otherwise."""
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires_at = remembered
            if time.time() < expires_at and not self._expired(time.monotonic()):
                return principal
            self._verified.pop(token, None)
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("malformed token")
        header = _unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken("algorithm not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCEPTED_TYP):
            raise InvalidToken("unexpected token type")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("missing key id")

        key = await self._key_for(kid, alg)
        claims = self._decode(token, key, alg)
        principal = _principal(claims)
        self._remember(token, principal, float(claims["exp"]) + self.leeway)
        return principal

    def _remember(self, token: str, principal: Principal, expires_at: float) -> None:
        if len(self._verified) >= MAX_VERIFIED_TOKENS:
            del self._verified[next(iter(self._verified))]  # dicts keep insertion order: the oldest
        self._verified[token] = (principal, expires_at)

    def _decode(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(_REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("token expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("bad signature") from None
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"missing claim {error.claim}") from None
        except jwt.InvalidIssuerError:
            raise InvalidToken("wrong issuer") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("wrong audience") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("token not yet valid") from None
        except jwt.InvalidKeyError:
            raise InvalidToken("unusable signing key") from None
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        # PyJWT coerces with int(), so "exp": "9999999999" would pass; insist on JSON numbers.
        for name in _NUMERIC_CLAIMS:
            value = claims.get(name)
            if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
                raise InvalidToken(f"malformed claim {name}")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise InvalidToken("malformed claim sub")
        return claims

    # --- the key set --------------------------------------------------------------------------------

    async def _key_for(self, kid: str, alg: str) -> jwt.PyJWK:
        generation = self._generation
        if self._expired(time.monotonic()) and self._may_fetch(time.monotonic(), unknown_kid=False):
            await self._refresh(generation)
        if not self._usable(time.monotonic()):
            raise KeySetUnavailable("signing keys unavailable")
        if kid not in self._keys:
            generation = self._generation
            if self._may_fetch(time.monotonic(), unknown_kid=True):
                await self._refresh(generation)
            if kid not in self._keys:
                if self._last_failed:
                    raise KeySetUnavailable("signing keys unavailable")
                raise InvalidToken("unknown key id")
        key = self._prepare(kid, alg)
        if key is None:
            raise InvalidToken("key does not match the token algorithm")
        return key

    def _expired(self, now: float) -> bool:
        return self._fetched_at is None or now - self._fetched_at >= self.cache_ttl

    def _usable(self, now: float) -> bool:
        return self._fetched_at is not None and now - self._fetched_at < self.cache_ttl + STALE_IF_ERROR

    def _may_fetch(self, now: float, *, unknown_kid: bool) -> bool:
        """Expiry may refetch at once after a success; anything else waits ``min_refetch_interval``."""
        if self._attempted_at is None:
            return True
        if not unknown_kid and not self._last_failed:
            return True
        return now - self._attempted_at >= self.min_refetch_interval

    async def _refresh(self, generation: int) -> None:
        """Fetch the key set unless another task has done so since ``generation`` was read."""
        async with self._lock:
            if self._generation != generation:
                return  # coalesced: somebody fetched while we waited for the lock
            try:
                keys = await self._fetch()
            except (httpx.HTTPError, ValueError) as error:
                self._record_attempt(failed=True)
                log.warning("cannot fetch JWKS from %s: %s", self.jwks_url, error)
                return
            self._keys = keys
            self._prepared = {}
            self._verified = {}  # checked against the old key set: check them again
            self._record_attempt(failed=False)
            self._fetched_at = self._attempted_at
            log.info("fetched JWKS from %s: %d key id(s)", self.jwks_url, len(keys))

    def _record_attempt(self, *, failed: bool) -> None:
        self._attempted_at = time.monotonic()
        self._last_failed = failed
        self._generation += 1

    async def _fetch(self) -> dict[str, list[dict[str, Any]]]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(5.0), follow_redirects=False)
        async with self._client.stream("GET", self.jwks_url, headers={"Accept": "application/json"}) as response:
            if response.status_code != 200:
                raise ValueError(f"HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS response too large")
        document = json.loads(body)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError("not a JWK set")
        keys: dict[str, list[dict[str, Any]]] = {}
        for jwk in document["keys"]:
            if _usable_for_signatures(jwk):
                keys.setdefault(jwk["kid"], []).append(jwk)
        return keys

    def _prepare(self, kid: str, alg: str) -> jwt.PyJWK | None:
        """The key with this kid that fits ``alg``, or None; built once per key set."""
        if (kid, alg) not in self._prepared:
            self._prepared[(kid, alg)] = next(
                (key for jwk in self._keys.get(kid, []) if (key := _as_key(jwk, alg)) is not None), None
            )
        return self._prepared[(kid, alg)]


def _usable_for_signatures(jwk: Any) -> bool:
    if not isinstance(jwk, dict):
        return False
    if not isinstance(jwk.get("kid"), str) or not jwk["kid"] or not isinstance(jwk.get("kty"), str):
        return False
    if jwk.get("use", "sig") != "sig":
        return False
    key_ops = jwk.get("key_ops")
    return key_ops is None or (isinstance(key_ops, list) and "verify" in key_ops)


def _as_key(jwk: dict[str, Any], alg: str) -> jwt.PyJWK | None:
    kty, curves = _KEY_TYPES[alg]
    if jwk.get("kty") != kty:
        return None
    if curves is not None and jwk.get("crv") not in curves:
        return None
    if jwk.get("alg", alg) != alg:
        return None
    try:
        return jwt.PyJWK(jwk, algorithm=alg)
    except jwt.PyJWTError:
        log.warning("JWKS key %s is not a usable %s key", jwk.get("kid"), alg)
        return None


def _principal(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise InvalidToken("malformed claim scope")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise InvalidToken("malformed claim roles")
    client_id = claims.get("client_id", claims.get("azp"))
    if client_id is not None and not isinstance(client_id, str):
        raise InvalidToken("malformed claim client_id")
    return Principal(
        subject=claims["sub"],
        client_id=client_id,
        scopes=frozenset(scope.split()),
        roles=frozenset(roles),
        claims=MappingProxyType(claims),
    )


# --- FastAPI dependencies --------------------------------------------------------------------------

_DETAIL_SIGN_IN = "Нужно войти в систему."
_DETAIL_REJECTED = "Не удалось подтвердить вход. Войдите заново."
_DETAIL_EXPIRED = "Сеанс входа истёк. Войдите заново."
_DETAIL_KEYS_DOWN = "Не удаётся проверить вход: служба входа временно недоступна. Попробуйте позже."
_DETAIL_NO_SCOPE = "У этого входа нет разрешения на это действие."
_DETAIL_NO_ROLE = "Это действие вам недоступно: нет подходящей роли."


def _bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None when there is no bearer credential at all."""
    value = request.headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


async def _verify(request: Request, token: str) -> Principal:
    verifier: TokenVerifier = request.app.state.kit.token_verifier
    try:
        return await verifier.verify(token)
    except KeySetUnavailable:
        retry_after = str(max(1, math.ceil(verifier.min_refetch_interval)))
        raise ProblemError(503, _DETAIL_KEYS_DOWN, headers={"Retry-After": retry_after}) from None
    except InvalidToken as error:
        log.info("rejected bearer token: %s", error)
        detail = _DETAIL_EXPIRED if isinstance(error, TokenExpired) else _DETAIL_REJECTED
        raise ProblemError(401, detail, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None


async def current_principal(request: Request) -> Principal:
    """Dependency: the caller, from a required ``Authorization: Bearer`` token.

    No bearer token: 401 with ``WWW-Authenticate: Bearer realm="gorod"``; an invalid one: 401 with
    ``error="invalid_token"``; the issuer's keys unreachable: 503.
    """
    token = _bearer_token(request)
    if token is None:
        raise ProblemError(401, _DETAIL_SIGN_IN, headers={"WWW-Authenticate": f'Bearer realm="{REALM}"'})
    return await _verify(request, token)


async def optional_principal(request: Request) -> Principal | None:
    """Dependency: the caller if a bearer token is sent, else None; a bad token is still a 401."""
    token = _bearer_token(request)
    if token is None:
        return None
    return await _verify(request, token)


PrincipalDependency = Callable[[Principal], Awaitable[Principal]]


def require_scope(*scopes: str) -> PrincipalDependency:
    """Dependency factory: the caller, who must hold **all** of ``scopes``; otherwise 403."""
    if not scopes:
        raise ValueError("require_scope() needs at least one scope")
    needed = frozenset(scopes)
    challenge = f'Bearer error="insufficient_scope", scope="{" ".join(scopes)}"'

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not needed <= principal.scopes:
            raise ProblemError(403, _DETAIL_NO_SCOPE, headers={"WWW-Authenticate": challenge})
        return principal

    return dependency


def require_role(*roles: str) -> PrincipalDependency:
    """Dependency factory: the caller, who must hold **at least one** of ``roles`` (any-of); otherwise 403.

    For all-of semantics, stack several ``require_role`` dependencies.
    """
    if not roles:
        raise ValueError("require_role() needs at least one role")
    allowed = frozenset(roles)

    async def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not allowed & principal.roles:
            raise ProblemError(403, _DETAIL_NO_ROLE)
        return principal

    return dependency


def _unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, read without touching the payload: ``jwt.decode`` parses the whole token again
    anyway, and PyJWT's own ``get_unverified_header`` would parse all three parts a first time."""
    encoded, dot, _rest = token.partition(".")
    if not dot or not encoded:
        raise InvalidToken("malformed token header")
    try:
        header = json.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise InvalidToken("malformed token header") from None
    if not isinstance(header, dict):
        raise InvalidToken("malformed token header")
    return header
