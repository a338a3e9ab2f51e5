"""Authlib's grants, extensions and endpoints, subclassed only where the storage is ours.

Every callback reads the request's pre-loaded :class:`~auth.oauth.context.Context` and appends the writes it
decides; none does I/O (see :mod:`auth.oauth.server`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

import jwt
from authlib.oauth2.base import OAuth2Error
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    InvalidRequestError,
    InvalidScopeError,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc6749.util import scope_to_list
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oidc.core import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest

from auth.domain.secrets import new_token, same_token, token_hash
from auth.domain.tokens import id_token_claims
from auth.oauth.context import (
    CodeUsed,
    Context,
    EndBrowserSession,
    NewCode,
    RefreshTokenUsed,
    RevokeAccessToken,
    RevokeFamily,
)
from auth.oauth.models import AccessToken, AuthorizationCode, Client, EndUser, RefreshToken

if TYPE_CHECKING:
    from auth.oauth.requests import SnapshotOAuth2Request
    from auth.oauth.server import GorodAuthorizationServer

ALL_CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "none"]
"""Confidential clients must use a secret method and public ones ``none`` (``Client.check_endpoint_auth_method``)."""
SECRET_CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]

MAX_NONCE = 512
MAX_STATE = 2048


def _ctx(request: SnapshotOAuth2Request) -> Context:
    return request.ctx


# --- authorization code + PKCE + OpenID Connect ----------------------------------------------------------


class S256CodeChallenge(CodeChallenge):  # type: ignore[misc]
    """PKCE (RFC 7636) required for every client, S256 only: ``plain`` or a missing method (which means
    ``plain``) is refused at the authorization endpoint."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    CODE_CHALLENGE_METHODS: ClassVar[dict[str, Any]] = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: CodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if self.required and not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge' with 'code_challenge_method=S256'.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: AuthorizationCode) -> str:
        return "S256"


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH

    def validate_authorization_request(self) -> str:
        redirect_uri: str = super().validate_authorization_request()
        data = self.request.payload.data
        if len(data.get("nonce") or "") > MAX_NONCE or len(data.get("state") or "") > MAX_STATE:
            raise InvalidRequestError("'nonce' or 'state' is too long.", redirect_uri=redirect_uri)
        return redirect_uri

    def generate_authorization_code(self) -> str:
        return new_token()

    def save_authorization_code(self, code: str, request: SnapshotOAuth2Request) -> None:
        ctx = _ctx(request)
        user: EndUser = request.user
        ctx.on_success.append(
            NewCode(
                code_hash=token_hash(code),
                client_id=request.client.client_id,
                user_id=user.id,
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope or "",
                nonce=request.payload.data.get("nonce") or None,
                code_challenge=request.payload.data["code_challenge"],
                auth_time=user.auth_time,
                expires_at=ctx.now + timedelta(seconds=ctx.settings.authorization_code_ttl),
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        ctx = _ctx(self.request)
        stored = ctx.code
        if stored is None or not same_token(code, stored.code_hash):
            return None
        if stored.used_at is not None:
            # RFC 6749 §4.1.2: a code used twice is refused, and what its first use issued is revoked.
            ctx.always.append(RevokeFamily(stored.token_family, "code_replayed", stored.client_id, stored.user_id))
            return None
        if stored.client_id != client.client_id or stored.expires_at <= ctx.now:
            return None
        ctx.auth_time = stored.auth_time
        return stored

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        ctx = _ctx(self.request)
        ctx.on_success.append(CodeUsed(authorization_code.code_hash, ctx.family_id))

    def authenticate_user(self, authorization_code: AuthorizationCode) -> EndUser | None:
        return _ctx(self.request).users.get(authorization_code.user_id)


class OpenIDConnect(OpenIDCode):  # type: ignore[misc]
    """The id_token of the code flow, with ``nonce``, ``at_hash`` and ``auth_time``, signed by the key ring."""

    def exists_nonce(self, nonce: str, request: SnapshotOAuth2Request) -> bool:
        return _ctx(request).nonce_used

    def generate_user_info(self, user: EndUser, scope: str) -> dict[str, object]:
        return user.claims_for(scope)

    def encode_id_token(self, token: dict[str, Any], request: SnapshotOAuth2Request) -> str:
        ctx = _ctx(request)
        code: AuthorizationCode = request.authorization_code
        user: EndUser = request.user
        assert ctx.signing_key is not None
        claims = id_token_claims(
            issuer=ctx.issuer,
            subject=str(user.id),
            client_id=request.client.client_id,
            issued_at=ctx.now,
            ttl=ctx.settings.id_token_ttl,
            auth_time=code.auth_time,
            nonce=code.nonce,
            access_token=token["access_token"],
            profile=self.generate_user_info(user, token.get("scope", "")),
        )
        return ctx.signing_key.sign(claims, typ="JWT")


# --- refresh tokens with rotation and reuse detection ------------------------------------------------


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ALL_CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every use returns a new one and retires the old

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        ctx = _ctx(self.request)
        stored = ctx.refresh_token
        if stored is None or not same_token(refresh_token, stored.token_hash) or stored.revoked_at is not None:
            return None
        if stored.used_at is not None:
            # Reuse of a rotated token: whoever holds the family is suspect, so all of it goes.
            ctx.always.append(RevokeFamily(stored.family_id, "refresh_token_reused", stored.client_id, stored.user_id))
            return None
        if stored.expires_at <= ctx.now:
            return None
        ctx.family_id = stored.family_id
        ctx.auth_time = stored.auth_time
        return stored

    def authenticate_user(self, refresh_token: RefreshToken) -> EndUser | None:
        return _ctx(self.request).users.get(refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        _ctx(self.request).on_success.append(RefreshTokenUsed(refresh_token.token_hash))


# --- client credentials ----------------------------------------------------------------------------


class ClientCredentials(ClientCredentialsGrant):  # type: ignore[misc]
    """Confidential clients only; the token is limited to the client's own scopes and audiences."""

    TOKEN_ENDPOINT_AUTH_METHODS = SECRET_CLIENT_AUTH

    def validate_requested_scope(self) -> None:
        requested = scope_to_list(self.request.payload.scope) or []
        if not set(requested) <= set(self.request.client.scopes):
            raise InvalidScopeError("The requested scope exceeds the scopes of this client.")


# --- introspection, revocation, logout -------------------------------------------------------------


class IntrospectionForbidden(OAuth2Error):  # type: ignore[misc]
    error = "unauthorized_client"
    description = "This client may not introspect tokens."
    status_code = 403


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662, for authenticated resource-server clients (``can_introspect``) only."""

    CLIENT_AUTH_METHODS = SECRET_CLIENT_AUTH

    def authenticate_endpoint_client(self, request: SnapshotOAuth2Request) -> Client:
        client: Client = super().authenticate_endpoint_client(request)
        if not client.can_introspect:
            raise IntrospectionForbidden()
        return client

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | RefreshToken | None:
        server: GorodAuthorizationServer = self.server
        return server.ctx.presented_token

    def check_permission(self, token: Any, client: Client, request: SnapshotOAuth2Request) -> bool:
        return True  # every token, for a client allowed to introspect at all

    def introspect_token(self, token: AccessToken | RefreshToken) -> dict[str, object]:
        return token.introspection()


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: a client revokes its own tokens; a refresh token takes its whole family with it."""

    CLIENT_AUTH_METHODS = ALL_CLIENT_AUTH

    def query_token(self, token_string: str, token_type_hint: str | None) -> AccessToken | RefreshToken | None:
        server: GorodAuthorizationServer = self.server
        return server.ctx.presented_token

    def revoke_token(self, token: AccessToken | RefreshToken, request: SnapshotOAuth2Request) -> None:
        ctx = _ctx(request)
        if isinstance(token, RefreshToken):
            ctx.on_success.append(RevokeFamily(token.family_id, "revoked", token.client_id, token.user_id))
        else:
            expires_at = datetime.fromtimestamp(int(token.claims["exp"]), UTC)
            ctx.on_success.append(RevokeAccessToken(token.jti, expires_at))


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """OpenID Connect RP-Initiated Logout 1.0; ``id_token_hint`` must be one of our id_tokens (RS256, our
    issuer, ``typ: JWT`` so an access token is not taken for one)."""

    def get_server_jwks(self) -> dict[str, Any]:
        server: GorodAuthorizationServer = self.server
        return server.ctx.jwks or {"keys": []}

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def _validate_id_token_hint(self, id_token_hint: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(id_token_hint)
        except jwt.PyJWTError as error:
            raise InvalidRequestError("'id_token_hint' is not a JWT.") from error
        if header.get("typ") != "JWT" or header.get("alg") != "RS256":
            raise InvalidRequestError("'id_token_hint' is not an ID token of this provider.")
        claims: dict[str, Any] = super()._validate_id_token_hint(id_token_hint)
        server: GorodAuthorizationServer = self.server
        if claims.get("iss") != server.ctx.issuer or not isinstance(claims.get("sub"), str):
            raise InvalidRequestError("'id_token_hint' was not issued by this provider.")
        return claims

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        _ctx(end_session_request.request).on_success.append(EndBrowserSession())


def register(server: GorodAuthorizationServer) -> None:
    server.register_grant(CodeGrant, [S256CodeChallenge(required=True), OpenIDConnect(require_nonce=False)])
    server.register_grant(RefreshGrant)
    server.register_grant(ClientCredentials)
    server.register_endpoint(Introspection)
    server.register_endpoint(Revocation)
    server.register_endpoint(EndSession)
