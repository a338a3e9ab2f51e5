"""The relying-party side of OpenID Connect / OAuth 2.0, talking to one provider over httpx.

Every answer is treated as hostile until checked: requests have timeouts and do not follow redirects,
a body larger than :data:`MAX_RESPONSE_BYTES` is refused while it is still arriving, JSON must be an
object, and an OpenID Connect ``id_token`` must be signed with an asymmetric algorithm by a key of the
provider's JWKS and carry the expected ``iss``, ``aud``, ``exp`` and ``nonce``. ``alg=none``, HMAC
algorithms (which would need the client secret as the key) and unknown keys are refused. Any failure raises
:class:`~auth.federation.errors.ProviderError`, whose log reason names what failed but never a token, a code
or a claim's value.

The discovery document and the JWKS are cached in the process (:data:`METADATA_TTL`); a JWKS is fetched
again when an id_token names a key id it does not have (the provider rotated), at most once per
:data:`JWKS_MIN_REFETCH` seconds.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx
import jwt

from auth.federation.claims import ExternalIdentity, map_claims
from auth.federation.config import Provider, check_endpoint_url
from auth.federation.errors import NOT_CONFIGURED, UNAVAILABLE, ProviderError
from auth.federation.flow import FlowSecrets, same_value

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1024 * 1024
MAX_TOKEN_LENGTH = 16 * 1024
MAX_CODE_LENGTH = 2048
METADATA_TTL = 3600.0
JWKS_MIN_REFETCH = 10.0
LEEWAY = 60
USER_AGENT = "Gorod-auth (+federation)"

# Asymmetric signature algorithms only, with the key type (and curves) each needs.
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
    "EdDSA": ("OKP", frozenset({"Ed25519", "Ed448"})),
}
ID_TOKEN_ALGORITHMS = frozenset(_KEY_TYPES)

_ERROR_CODE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

_discovery_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_jwks_cache: dict[str, tuple[float, list[dict[str, Any]]]] = {}


@dataclass(frozen=True)
class Endpoints:
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str | None
    issuer: str | None
    jwks_uri: str | None


@dataclass(frozen=True)
class TokenAnswer:
    access_token: str
    id_token: str | None


def forget_cached_metadata() -> None:
    """Drop cached discovery documents and key sets (tests, or after a provider's configuration changed)."""
    _discovery_cache.clear()
    _jwks_cache.clear()


def provider_error_code(value: str | None) -> str:
    """An OAuth ``error`` code from a provider, safe to log and to compare; ``invalid`` if it is not a code."""
    return value if value and _ERROR_CODE.match(value) else "invalid"


class ProviderClient:
    """One sign-in's conversation with ``provider``; use as ``async with ProviderClient(p) as client``."""

    def __init__(self, provider: Provider, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.provider = provider
        self.settings = provider.settings
        timeout = httpx.Timeout(self.settings.timeout, connect=min(5.0, self.settings.timeout))
        self._http = httpx.AsyncClient(
            timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}, transport=transport
        )

    async def __aenter__(self) -> ProviderClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._http.aclose()

    # --- endpoints --------------------------------------------------------------------------------

    async def endpoints(self) -> Endpoints:
        settings = self.settings
        discovered: dict[str, Any] = {}
        if settings.discovery_url is not None:
            discovered = await self._discovery(settings.discovery_url)

        def pick(name: str) -> str | None:
            value = getattr(settings, name) or discovered.get(name)
            return value if isinstance(value, str) else None

        authorization_endpoint = pick("authorization_endpoint")
        token_endpoint = pick("token_endpoint")
        if authorization_endpoint is None or token_endpoint is None:
            raise ProviderError("no authorization or token endpoint")
        return Endpoints(
            authorization_endpoint=authorization_endpoint,
            token_endpoint=token_endpoint,
            userinfo_endpoint=pick("userinfo_endpoint"),
            issuer=settings.issuer or pick("issuer"),
            jwks_uri=pick("jwks_uri"),
        )

    async def _discovery(self, url: str) -> dict[str, Any]:
        cached = _discovery_cache.get(url)
        if cached is not None and time.monotonic() - cached[0] < METADATA_TTL:
            return cached[1]
        document = await self._get_json(url, what="discovery")
        checked: dict[str, Any] = {}
        for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            value = document.get(name)
            if value is None and name == "userinfo_endpoint":
                continue
            if not isinstance(value, str):
                raise ProviderError(f"discovery: {name} missing or not a string")
            if name != "issuer":
                try:
                    check_endpoint_url(value)
                except ValueError as error:
                    raise ProviderError(f"discovery: {name} refused ({error})") from None
            checked[name] = value
        # OIDC Discovery §4.3: the document is about the issuer it was fetched from.
        issuer = checked["issuer"]
        if self.settings.issuer is not None and issuer != self.settings.issuer:
            raise ProviderError("discovery: issuer differs from the configured one")
        if not url.startswith(issuer.rstrip("/") + "/"):
            raise ProviderError("discovery: issuer does not match the discovery URL")
        _discovery_cache[url] = (time.monotonic(), checked)
        return checked

    # --- the authorization request ---------------------------------------------------------------

    def authorization_url(self, endpoints: Endpoints, *, redirect_uri: str, flow: FlowSecrets) -> str:
        settings = self.settings
        params: dict[str, str] = {
            **settings.authorize_params,
            "response_type": "code",
            "client_id": settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(settings.scopes),
            "state": flow.state,
        }
        if settings.is_oidc:
            params["nonce"] = flow.nonce
        if settings.pkce:
            params["code_challenge"] = flow.code_challenge
            params["code_challenge_method"] = "S256"
        parts = urlsplit(endpoints.authorization_endpoint)
        query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key not in params]
        return urlunsplit(parts._replace(query=urlencode([*query, *params.items()])))

    # --- the callback --------------------------------------------------------------------------------

    async def fetch_identity(
        self, *, code: str, redirect_uri: str, nonce: str, code_verifier: str | None, iss: str | None = None
    ) -> ExternalIdentity:
        """Exchange ``code``, verify what comes back, and map it to an :class:`ExternalIdentity`. ``iss`` is
        the callback's own ``iss`` parameter, if the provider sends one (RFC 9207, against mix-ups)."""
        if not code or len(code) > MAX_CODE_LENGTH or not code.isprintable():
            raise ProviderError("callback: malformed code")
        endpoints = await self.endpoints()
        if iss is not None and endpoints.issuer is not None and iss != endpoints.issuer:
            raise ProviderError("callback: iss is another issuer's (RFC 9207)")
        tokens = await self.exchange_code(endpoints, code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        claims: dict[str, Any] = {}
        if self.settings.is_oidc:
            if tokens.id_token is None:
                raise ProviderError("token endpoint: no id_token")
            claims = await self.verify_id_token(endpoints, tokens.id_token, nonce=nonce)
        if endpoints.userinfo_endpoint is not None and (not self.settings.is_oidc or self.settings.use_userinfo):
            info = await self.userinfo(endpoints.userinfo_endpoint, tokens.access_token)
            if claims and "sub" in info and info["sub"] != claims["sub"]:
                # OIDC Core §5.3.2: a userinfo answer about someone else must not be used.
                raise ProviderError("userinfo: sub differs from the id_token's")
            claims = {**info, **claims}  # the signed id_token wins where both say something
        elif not self.settings.is_oidc:
            raise ProviderError("no userinfo endpoint for a plain OAuth 2 provider")
        return map_claims(self.provider.slug, claims, self.settings.claims)

    async def exchange_code(
        self, endpoints: Endpoints, *, code: str, redirect_uri: str, code_verifier: str | None
    ) -> TokenAnswer:
        settings = self.settings
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        if code_verifier is not None:
            form["code_verifier"] = code_verifier
        headers = {"Accept": "application/json"}
        secret = self.provider.client_secret()
        if settings.is_public_client:
            form["client_id"] = settings.client_id
        elif secret is None:
            raise ProviderError(
                f"client secret missing: set {self.provider.secret_variable}", NOT_CONFIGURED, status=503
            )
        elif settings.secret_in_body:
            form["client_id"] = settings.client_id
            form["client_secret"] = secret
        else:
            # client_secret_basic; RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
            pair = f"{quote(settings.client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        answer = await self._fetch_json(
            "POST", endpoints.token_endpoint, what="token endpoint", data=form, headers=headers
        )
        access_token = answer.get("access_token")
        if not isinstance(access_token, str) or not access_token or len(access_token) > MAX_TOKEN_LENGTH:
            raise ProviderError("token endpoint: access_token missing or malformed")
        token_type = answer.get("token_type")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise ProviderError("token endpoint: token_type is not Bearer")
        id_token = answer.get("id_token")
        if id_token is not None and (not isinstance(id_token, str) or len(id_token) > MAX_TOKEN_LENGTH):
            raise ProviderError("token endpoint: id_token malformed")
        return TokenAnswer(access_token=access_token, id_token=id_token)

    async def verify_id_token(self, endpoints: Endpoints, id_token: str, *, nonce: str) -> dict[str, Any]:
        if endpoints.issuer is None or endpoints.jwks_uri is None:
            raise ProviderError("no issuer or jwks_uri to verify the id_token with")
        try:
            header = jwt.get_unverified_header(id_token)
        except (jwt.PyJWTError, RecursionError):
            raise ProviderError("id_token: malformed") from None
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in ID_TOKEN_ALGORITHMS:
            # ``none`` (unsigned), HS* (keyed with the client secret), and anything unknown.
            raise ProviderError(f"id_token: algorithm {str(alg)[:16]!r} refused")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise ProviderError("id_token: malformed kid")
        keys = await self._keys_for(endpoints.jwks_uri, kid, alg)
        if not keys:
            raise ProviderError("id_token: no key of the provider's JWKS fits it")
        claims: dict[str, Any] | None = None
        for key in keys:
            try:
                claims = jwt.decode(
                    id_token,
                    key=key,
                    algorithms=[alg],
                    audience=self.settings.client_id,
                    issuer=endpoints.issuer,
                    leeway=LEEWAY,
                    options={"require": ["iss", "aud", "exp", "iat", "sub"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise ProviderError("id_token: expired") from None
            except (jwt.PyJWTError, RecursionError) as error:
                raise ProviderError(f"id_token: {type(error).__name__}") from None
        if claims is None:
            raise ProviderError("id_token: signature does not verify")
        audience = claims["aud"]
        azp = claims.get("azp")
        if isinstance(audience, list) and len(audience) > 1 and azp is None:
            raise ProviderError("id_token: several audiences and no azp")
        if azp is not None and azp != self.settings.client_id:
            raise ProviderError("id_token: azp is another client")
        if not same_value(claims.get("nonce"), nonce):
            raise ProviderError("id_token: nonce missing or different")
        return claims

    async def userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        return await self._get_json(url, what="userinfo", headers={"Authorization": f"Bearer {access_token}"})

    # --- keys ----------------------------------------------------------------------------------------------

    async def _keys_for(self, jwks_uri: str, kid: str | None, alg: str) -> list[jwt.PyJWK]:
        cached = _jwks_cache.get(jwks_uri)
        now = time.monotonic()
        if cached is None or now - cached[0] >= METADATA_TTL:
            cached = await self._fetch_jwks(jwks_uri)
        keys = _fitting(cached[1], kid, alg)
        if not keys and time.monotonic() - cached[0] >= JWKS_MIN_REFETCH:
            cached = await self._fetch_jwks(jwks_uri)  # the provider may have rotated its keys
            keys = _fitting(cached[1], kid, alg)
        return keys

    async def _fetch_jwks(self, jwks_uri: str) -> tuple[float, list[dict[str, Any]]]:
        document = await self._get_json(jwks_uri, what="jwks")
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise ProviderError("jwks: not a JWK set")
        entry = (time.monotonic(), [key for key in keys if isinstance(key, dict)])
        _jwks_cache[jwks_uri] = entry
        return entry

    # --- HTTP --------------------------------------------------------------------------------------------

    async def _get_json(self, url: str, *, what: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return await self._fetch_json("GET", url, what=what, headers={"Accept": "application/json", **(headers or {})})

    async def _fetch_json(self, method: str, url: str, *, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            async with self._http.stream(method, url, **kwargs) as response:
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                    raise ProviderError(f"{what}: answer too large")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > MAX_RESPONSE_BYTES:
                        raise ProviderError(f"{what}: answer too large")
                status = response.status_code
        except httpx.HTTPError as error:
            raise ProviderError(f"{what}: {type(error).__name__}", UNAVAILABLE) from None
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; nesting bombs recurse
            raise ProviderError(f"{what}: HTTP {status}, not JSON") from None
        if not isinstance(document, dict):
            raise ProviderError(f"{what}: HTTP {status}, not a JSON object")
        if status != 200:
            code = document.get("error")
            raise ProviderError(
                f"{what}: HTTP {status}, error {provider_error_code(code if isinstance(code, str) else None)}"
            )
        return document


def _fitting(jwks: list[dict[str, Any]], kid: str | None, alg: str) -> list[jwt.PyJWK]:
    kty, curves = _KEY_TYPES[alg]
    keys: list[jwt.PyJWK] = []
    for jwk in jwks:
        if kid is not None and jwk.get("kid") != kid:
            continue
        if jwk.get("kty") != kty or (curves is not None and jwk.get("crv") not in curves):
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", alg) != alg:
            continue
        key_ops = jwk.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            continue
        try:
            keys.append(jwt.PyJWK(jwk, algorithm=alg))
        except jwt.PyJWTError:
            log.warning("provider key is not a usable %s key", alg)
    return keys
