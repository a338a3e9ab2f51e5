"""The OAuth 2.0 / OpenID Connect use cases: authorize, token, userinfo, introspect, revoke, logout.

Each runs in one unit of work in three steps (load → Authlib decides → persist), as
:mod:`auth.oauth.server` explains.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidGrantError
from authlib.oauth2.rfc6749.util import extract_basic_authorization
from authlib.oidc.core.errors import LoginRequiredError
from sqlalchemy.ext.asyncio import AsyncSession

from auth.db import oauth as oauth_db
from auth.db import users as users_db
from auth.domain.secrets import token_hash, verify_password
from auth.oauth.context import (
    CodeUsed,
    Context,
    EndBrowserSession,
    NewCode,
    NewRefreshToken,
    RefreshTokenUsed,
    RevokeAccessToken,
    RevokeFamily,
    Write,
)
from auth.oauth.grants import MAX_NONCE, MAX_STATE
from auth.oauth.http import HttpRequest, OAuthResponse
from auth.oauth.models import AccessToken, AuthorizationCode, Client, EndUser, RefreshToken
from auth.oauth.own_tokens import InvalidOwnToken, looks_like_jwt, unverified_claims, verify_access_token
from auth.oauth.server import GorodAuthorizationServer
from auth.settings import AuthSettings
from auth.usecases.keys import KeyRing
from auth.usecases.sessions import BrowserSession, end_session
from servicekit.app import ServiceContext

log = logging.getLogger(__name__)

SIGNIN_PATH = "/signin"

SCOPES_SUPPORTED = ("openid", "profile", "email", "phone", "offline_access")
CLAIMS_SUPPORTED = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "email",
                    "email_verified", "name", "phone_number")  # fmt: skip


def _settings(kit: ServiceContext) -> AuthSettings:
    settings = kit.settings
    assert isinstance(settings, AuthSettings)
    return settings


def endpoint(settings: AuthSettings, path: str) -> str:
    return settings.jwt_issuer.rstrip("/") + path


# --- discovery -----------------------------------------------------------------------------------------


def discovery(settings: AuthSettings) -> dict[str, Any]:
    """OpenID Provider Metadata (OpenID Connect Discovery 1.0; RFC 8414)."""
    secret_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": settings.jwt_issuer,
        "authorization_endpoint": endpoint(settings, "/oauth2/authorize"),
        "token_endpoint": endpoint(settings, "/oauth2/token"),
        "userinfo_endpoint": endpoint(settings, "/oauth2/userinfo"),
        "jwks_uri": endpoint(settings, "/.well-known/jwks.json"),
        "introspection_endpoint": endpoint(settings, "/oauth2/introspect"),
        "revocation_endpoint": endpoint(settings, "/oauth2/revoke"),
        "end_session_endpoint": endpoint(settings, "/oauth2/logout"),
        "scopes_supported": list(SCOPES_SUPPORTED),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": list(CLAIMS_SUPPORTED),
        "prompt_values_supported": ["none", "login"],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "authorization_response_iss_parameter_supported": True,
        "ui_locales_supported": ["ru"],
    }


# --- loading -------------------------------------------------------------------------------------------


class _VerifiedSecrets:
    """Argon2 costs ~0.1 s of CPU by design; a partner asking for a token every few seconds would pay it every
    time. A secret that matched its stored hash is remembered for a few minutes by SHA-256 of (stored hash,
    secret): changing or deleting the secret changes the key, and nothing that could be replayed is kept."""

    TTL = 300.0
    MAX = 4096

    def __init__(self) -> None:
        self._until: dict[bytes, float] = {}

    @staticmethod
    def _key(stored_hash: str, secret: str) -> bytes:
        return hashlib.sha256(f"{stored_hash}\0{secret}".encode()).digest()

    def known(self, stored_hash: str, secret: str) -> bool:
        until = self._until.get(self._key(stored_hash, secret))
        return until is not None and until > time.monotonic()

    def remember(self, stored_hash: str, secret: str) -> None:
        if len(self._until) >= self.MAX:
            now = time.monotonic()
            self._until = {key: until for key, until in self._until.items() if until > now}
            if len(self._until) >= self.MAX:
                self._until.clear()
        self._until[self._key(stored_hash, secret)] = time.monotonic() + self.TTL


_verified_secrets = _VerifiedSecrets()


async def _secret_matches(client: Client, secret: str) -> bool:
    if client.secret_hash is None:
        return False
    if _verified_secrets.known(client.secret_hash, secret):
        return True
    ok = await asyncio.to_thread(verify_password, secret, client.secret_hash)
    if ok:
        _verified_secrets.remember(client.secret_hash, secret)
    return ok


async def _load_client(session: AsyncSession, ctx: Context, client_id: str | None) -> Client | None:
    if not client_id:
        return None
    if client_id not in ctx.clients:
        row = await oauth_db.active_client(session, client_id)
        if row is None:
            return None
        ctx.clients[client_id] = Client.from_row(row)
    return ctx.clients[client_id]


async def _load_presented_clients(session: AsyncSession, ctx: Context, http: HttpRequest) -> Client | None:
    """The clients the request names (HTTP Basic and/or the form), each presented secret checked (argon2 in
    a thread) before Authlib asks ``check_client_secret``. Returns the first client named."""
    basic_id, basic_secret = extract_basic_authorization(http.headers)
    form_id, form_secret = http.form_value("client_id"), http.form_value("client_secret")
    first: Client | None = None
    for client_id, secret in ((basic_id, basic_secret), (form_id, form_secret)):
        client = await _load_client(session, ctx, client_id)
        if client is None:
            continue
        first = first or client
        if secret and client.verified_secret is None and await _secret_matches(client, secret):
            client.verified_secret = secret
    return first


async def _end_user(session: AsyncSession, user_id: uuid.UUID, auth_time: datetime) -> EndUser | None:
    row = await users_db.user_by_id(session, user_id)
    if row is None:
        return None
    return EndUser(
        id=row.id,
        auth_time=auth_time,
        roles=await users_db.roles_of(session, user_id),
        email=row.email,
        email_verified=row.email_verified_at is not None,
        name=row.full_name or "",
        phone=row.phone,
    )


async def _load_presented_token(session: AsyncSession, ctx: Context, keys: KeyRing, token: str | None) -> None:
    """The token sent to introspection or revocation, if it is one of ours (expired ones included: Authlib
    reports those inactive)."""
    if not token:
        return
    if looks_like_jwt(token):
        try:
            claims = await verify_access_token(keys, token, issuer=ctx.issuer, verify_exp=False)
        except InvalidOwnToken:
            return
        revoked = await oauth_db.access_token_revoked(session, str(claims["jti"]))
        ctx.presented_token = AccessToken(claims=claims, revoked=revoked, now=ctx.now)
    elif len(token) <= 512:
        row = await oauth_db.refresh_token_by_hash(session, token_hash(token))
        if row is not None:
            ctx.presented_token = RefreshToken.from_row(row, now=ctx.now)


# --- persisting ----------------------------------------------------------------------------------------


class _LostRace(Exception):
    """A code or refresh token was used by a concurrent request after all (the row lock should prevent it)."""


async def _apply(session: AsyncSession, writes: Sequence[Write], *, cookie: str | None = None) -> None:
    for write in writes:
        if isinstance(write, NewCode):
            await oauth_db.insert_code(session, **asdict(write))
        elif isinstance(write, CodeUsed):
            if not await oauth_db.mark_code_used(session, write.code_hash, token_family=write.token_family):
                raise _LostRace
        elif isinstance(write, NewRefreshToken):
            await oauth_db.insert_refresh_token(session, **asdict(write))
        elif isinstance(write, RefreshTokenUsed):
            if not await oauth_db.mark_refresh_token_used(session, write.token_hash):
                raise _LostRace
        elif isinstance(write, RevokeFamily):
            if write.family_id is not None:
                await oauth_db.revoke_family(session, write.family_id)
            if write.reason != "revoked":
                log.warning("OAuth %s: client %s, family revoked", write.reason, write.client_id)
                await users_db.audit(
                    session,
                    f"oauth.{write.reason}",
                    actor_id=None,
                    subject_id=write.user_id,
                    details={"client_id": write.client_id},
                )
        elif isinstance(write, RevokeAccessToken):
            await oauth_db.revoke_access_token(session, write.jti, expires_at=write.expires_at)
        elif isinstance(write, EndBrowserSession):
            await end_session(session, cookie)


def _error(error: OAuth2Error) -> OAuthResponse:
    status, body, headers = error()
    return OAuthResponse(status, body, list(headers))


# --- authorization endpoint ----------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizeOutcome:
    """Where the browser goes next, or (``error``) a page saying why we will not send it anywhere."""

    redirect_to: str | None = None
    error: str | None = None
    detail: str | None = None
    """For the client's developers, in English (the OAuth error and its description)."""


PAGE_UNKNOWN_CLIENT = (
    "Приложение, которое отправило вас сюда, у нас не зарегистрировано или отключено. Вернитесь на сайт, "
    "с которого пришли, и попробуйте ещё раз."
)
PAGE_BAD_REDIRECT = (
    "Адрес, на который приложение просит вернуть вас после входа, у него не зарегистрирован, поэтому мы не "
    "отправим вас туда. Сообщите об этом владельцу сайта."
)
PAGE_BAD_REQUEST = "Запрос на вход составлен неверно. Вернитесь на сайт, с которого пришли, и попробуйте ещё раз."


async def authorize(kit: ServiceContext, http: HttpRequest, browser: BrowserSession | None) -> AuthorizeOutcome:
    """Authorization code + PKCE (S256). A bad or unknown client or redirect_uri never redirects; other errors
    go back to the client (RFC 6749 §4.1.2.1, with ``state`` and RFC 9207 ``iss``). Without a (fresh enough)
    browser session the user is sent to sign in and comes back here."""
    settings = _settings(kit)
    now = datetime.now(UTC)
    async with kit.unit_of_work() as uow:
        session = uow.session
        ctx = Context(settings=settings, now=now)
        client_id = http.param("client_id")
        client = await _load_client(session, ctx, client_id)
        user = await _end_user(session, browser.user_id, browser.auth_time) if browser else None
        nonce = http.param("nonce")
        if client is not None and nonce and len(nonce) <= MAX_NONCE:
            ctx.nonce_used = await oauth_db.nonce_was_used(session, client.client_id, nonce)
        prompts = set((http.param("prompt") or "").split())
        reauthenticate = "login" in prompts or _too_old(user, http.param("max_age"), now)
        if reauthenticate:
            user = None

        server = GorodAuthorizationServer(ctx)
        try:
            grant = server.get_consent_grant(request=http, end_user=user)
        except OAuth2Error as error:
            return _authorize_error(server, error, client, http)

        if user is None:
            if "none" in prompts:
                login_required = LoginRequiredError(redirect_uri=grant.redirect_uri, state=http.param("state"))
                return _authorize_error(server, login_required, client, http)
            return AuthorizeOutcome(redirect_to=_signin_url(http, reauthenticate=reauthenticate))

        # First-party clients only (the registry is ours): no consent screen.
        response = server.create_authorization_response(request=grant.request, grant_user=user, grant=grant)
        await _apply(session, ctx.writes(response))
        await uow.commit()
    return AuthorizeOutcome(redirect_to=response.location)


def _too_old(user: EndUser | None, max_age: str | None, now: datetime) -> bool:
    if user is None or not max_age or not max_age.isdigit():
        return False
    return (now - user.auth_time).total_seconds() > int(max_age)


def _signin_url(http: HttpRequest, *, reauthenticate: bool) -> str:
    """``/signin?next=<this authorize request, relative>``; after a forced re-authentication (``prompt=login``,
    ``max_age``) the next request must not force it again, and the sign-in page is told to ask anyway."""
    params = [(k, v) for k, v in http.params if not (reauthenticate and k in ("prompt", "max_age"))]
    next_url = "/oauth2/authorize?" + urlencode(params)
    url = f"{SIGNIN_PATH}?next={quote(next_url, safe='')}"
    return url + "&prompt=login" if reauthenticate else url


def _authorize_error(
    server: GorodAuthorizationServer, error: OAuth2Error, client: Client | None, http: HttpRequest
) -> AuthorizeOutcome:
    if error.redirect_uri:
        state = http.param("state")
        error.state = state if state and len(state) <= MAX_STATE else None
        response = server.handle_error_response(None, error)
        server.issuer.add_issuer_parameter(server, response)
        return AuthorizeOutcome(redirect_to=response.location)
    redirect_uri = http.param("redirect_uri")
    if client is None or isinstance(error, InvalidClientError):
        message = PAGE_UNKNOWN_CLIENT
    elif not redirect_uri or not client.check_redirect_uri(redirect_uri):
        message = PAGE_BAD_REDIRECT
    else:
        message = PAGE_BAD_REQUEST
    return AuthorizeOutcome(error=message, detail=f"{error.error}: {error.get_error_description() or ''}".strip())


# --- token endpoint ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientResponse:
    """An answer to a client, with the browser origins that client registered (for CORS)."""

    response: OAuthResponse
    allowed_origins: frozenset[str]


async def token(kit: ServiceContext, keys: KeyRing, http: HttpRequest) -> ClientResponse:
    """The token endpoint: ``authorization_code``, ``refresh_token`` (rotation, reuse detection) and
    ``client_credentials``."""
    settings = _settings(kit)
    now = datetime.now(UTC)
    async with kit.unit_of_work() as uow:
        session = uow.session
        ctx = Context(settings=settings, now=now, signing_key=await keys.signing_key())
        client = await _load_presented_clients(session, ctx, http)
        grant_type = http.form_value("grant_type")
        if grant_type == "authorization_code" and (code := http.form_value("code")) and len(code) <= 512:
            row = await oauth_db.code_for_update(session, token_hash(code))
            if row is not None:
                ctx.code = AuthorizationCode.from_row(row)
                await _add_user(session, ctx, row.user_id, row.auth_time)
        elif grant_type == "refresh_token" and (raw := http.form_value("refresh_token")) and len(raw) <= 512:
            row = await oauth_db.refresh_token_for_update(session, token_hash(raw))
            if row is not None:
                ctx.refresh_token = RefreshToken.from_row(row, now=now)
                await _add_user(session, ctx, row.user_id, row.auth_time)

        server = GorodAuthorizationServer(ctx)
        try:
            response = server.create_token_response(http)
        except OAuth2Error as error:  # raised before Authlib's own handling, e.g. insecure_transport
            response = _error(error)
        try:
            await _apply(session, ctx.writes(response))
        except _LostRace:
            await uow.rollback()
            response = _error(InvalidGrantError("The grant was used by a concurrent request."))
        else:
            await uow.commit()
    return ClientResponse(response, frozenset(client.allowed_origins) if client else frozenset())


async def _add_user(session: AsyncSession, ctx: Context, user_id: uuid.UUID, auth_time: datetime) -> None:
    user = await _end_user(session, user_id, auth_time)
    if user is not None:
        ctx.users[user.id] = user


async def cors_origin_registered(kit: ServiceContext, origin: str) -> bool:
    """For a CORS preflight, which names no client yet: does any active client list this origin?"""
    async with kit.session_factory() as session:
        return await oauth_db.origin_is_registered(session, origin)


# --- introspection and revocation ----------------------------------------------------------------------


async def introspect(kit: ServiceContext, keys: KeyRing, http: HttpRequest) -> OAuthResponse:
    """RFC 7662, for authenticated clients with ``can_introspect`` (others: 401 or 403)."""
    return (await _token_endpoint(kit, keys, http, "introspection")).response


async def revoke(kit: ServiceContext, keys: KeyRing, http: HttpRequest) -> ClientResponse:
    """RFC 7009, for the client the token was issued to."""
    return await _token_endpoint(kit, keys, http, "revocation")


async def _token_endpoint(kit: ServiceContext, keys: KeyRing, http: HttpRequest, name: str) -> ClientResponse:
    now = datetime.now(UTC)
    async with kit.unit_of_work() as uow:
        session = uow.session
        ctx = Context(settings=_settings(kit), now=now)
        client = await _load_presented_clients(session, ctx, http)
        await _load_presented_token(session, ctx, keys, http.form_value("token"))
        server = GorodAuthorizationServer(ctx)
        try:
            response = server.create_endpoint_response(name, http)
        except OAuth2Error as error:
            response = _error(error)
        await _apply(session, ctx.writes(response))
        await uow.commit()
    return ClientResponse(response, frozenset(client.allowed_origins) if client else frozenset())


# --- userinfo ------------------------------------------------------------------------------------------


class BearerError(Exception):
    """RFC 6750 §3.1: ``invalid_token`` (401) or ``insufficient_scope`` (403)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


async def userinfo(kit: ServiceContext, keys: KeyRing, access_token: str | None) -> dict[str, object]:
    """OIDC UserInfo for a valid, unrevoked access token of ours with scope ``openid``; claims by scope."""
    settings = _settings(kit)
    if not access_token:
        raise BearerError(401, "invalid_request", "A bearer access token is required.")
    try:
        claims = await verify_access_token(keys, access_token, issuer=settings.jwt_issuer)
    except InvalidOwnToken as error:
        raise BearerError(401, "invalid_token", f"The access token is not valid ({error}).") from None
    scope = str(claims.get("scope", ""))
    if "openid" not in scope.split():
        raise BearerError(403, "insufficient_scope", "The access token lacks the 'openid' scope.")
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise BearerError(401, "invalid_token", "The access token has no user.") from None
    async with kit.session_factory() as session:
        if await oauth_db.access_token_revoked(session, str(claims["jti"])):
            raise BearerError(401, "invalid_token", "The access token was revoked.")
        auth_time = datetime.fromtimestamp(int(claims.get("auth_time", claims["iat"])), UTC)
        user = await _end_user(session, user_id, auth_time)
    if user is None:
        raise BearerError(401, "invalid_token", "The user of this access token no longer exists.")
    return {"sub": str(user.id), **user.claims_for(scope)}


# --- RP-initiated logout -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogoutOutcome:
    redirect_to: str | None = None
    """The client's registered ``post_logout_redirect_uri`` (with ``state``), after a valid id_token_hint."""
    confirm: bool = False
    """Ask the user (the request proves nothing about who sent it)."""
    signed_out: bool = False
    """The browser session is over: clear its cookie."""
    error: str | None = None


_LOGOUT_BAD_HINT = (
    "Приложение прислало неверный запрос на выход, поэтому мы не вернём вас в него. Выйти из «Города» можно "
    "кнопкой ниже."
)


async def logout(
    kit: ServiceContext,
    keys: KeyRing,
    http: HttpRequest,
    *,
    cookie: str | None,
    browser: BrowserSession | None,
    confirmed: bool,
) -> LogoutOutcome:
    """OpenID Connect RP-Initiated Logout 1.0. With a valid ``id_token_hint`` of the signed-in user the session
    ends at once and the browser goes to the exactly registered ``post_logout_redirect_uri``; otherwise the
    user confirms on our page first, and is not redirected."""
    settings = _settings(kit)
    now = datetime.now(UTC)
    await keys.signing_key()  # so that the JWKS is never empty
    async with kit.unit_of_work() as uow:
        session = uow.session
        ctx = Context(settings=settings, now=now, jwks=await keys.jwks())
        hint = http.param("id_token_hint")
        aud = unverified_claims(hint).get("aud") if hint else None
        await _load_client(session, ctx, http.param("client_id") or (aud if isinstance(aud, str) else None))
        server = GorodAuthorizationServer(ctx)
        try:
            request = server.validate_endpoint_request("end_session", http)
        except OAuth2Error:
            return LogoutOutcome(error=_LOGOUT_BAD_HINT, confirm=browser is not None)
        if browser is None:
            return LogoutOutcome(redirect_to=request.redirect_uri, signed_out=True)
        claims = request.id_token_claims
        if (claims is None or claims.get("sub") != str(browser.user_id)) and not confirmed:
            return LogoutOutcome(confirm=True)
        response = server.create_endpoint_response("end_session", request)
        await _apply(session, ctx.on_success, cookie=cookie)
        await uow.commit()
    return LogoutOutcome(redirect_to=response.location if response is not None else None, signed_out=True)
