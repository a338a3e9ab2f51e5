"""Plain, already-loaded objects that Authlib's mixins ask questions of: no database behind any method."""

from __future__ import annotations

import hmac
import ipaddress
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin
from authlib.oauth2.rfc6749.util import list_to_scope, scope_to_list
from authlib.oidc.core import AuthorizationCodeMixin

SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post"})


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    kind: str
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    allowed_origins: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    audiences: tuple[str, ...]
    can_introspect: bool
    verified_secret: str | None = field(default=None, repr=False)
    """The secret this request presented, once argon2 (run in a thread before Authlib) accepted it."""

    @classmethod
    def from_row(cls, row: Any) -> Client:
        return cls(
            client_id=row.client_id,
            kind=row.kind,
            secret_hash=row.secret_hash,
            redirect_uris=tuple(row.redirect_uris or ()),
            post_logout_redirect_uris=tuple(row.post_logout_redirect_uris or ()),
            allowed_origins=tuple(row.allowed_origins or ()),
            grant_types=tuple(row.grant_types or ()),
            scopes=tuple(row.scopes or ()),
            audiences=tuple(row.audiences or ()),
            can_introspect=bool(row.can_introspect),
        )

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    @property
    def client_metadata(self) -> dict[str, Any]:
        """What Authlib's RP-initiated logout endpoint reads."""
        return {"post_logout_redirect_uris": list(self.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        """None: ``redirect_uri`` is always required (OpenID Connect), never guessed."""
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scope if the client may have all of it (None → ``invalid_scope``); no scope asks for
        all the client's scopes."""
        if not scope:
            return str(list_to_scope(list(self.scopes)))
        requested = scope_to_list(scope)
        if not set(requested) <= set(self.scopes):
            return None
        return str(list_to_scope(list(dict.fromkeys(requested))))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        if redirect_uri in self.redirect_uris:
            return True
        return self.kind == "mobile" and any(_same_loopback(redirect_uri, uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret: str) -> bool:
        return self.verified_secret is not None and hmac.compare_digest(
            self.verified_secret.encode(), client_secret.encode()
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.is_public:
            return method == "none"
        return method in SECRET_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials" and self.is_public:
            return False
        return grant_type in self.grant_types


def _same_loopback(requested: str, registered: str) -> bool:
    """RFC 8252 §7.3: a native app's loopback redirect may use any port; everything else must be equal."""
    try:
        a, b = urlsplit(requested), urlsplit(registered)
        a_port, _ = a.port, b.port
        host = ipaddress.ip_address((a.hostname or "").strip("[]"))
    except ValueError:
        return False
    if a.scheme != "http" or b.scheme != "http" or not host.is_loopback or a_port is None:
        return False
    return (a.hostname, a.path, a.query, a.fragment, a.username, a.password) == (
        b.hostname,
        b.path,
        b.query,
        b.fragment,
        b.username,
        b.password,
    )


@dataclass(frozen=True)
class EndUser:
    """The signed-in person as tokens need them: id, coarse roles, and the claims a scope may reveal."""

    id: uuid.UUID
    auth_time: datetime
    roles: frozenset[str]
    email: str | None
    email_verified: bool
    name: str
    phone: str | None = None

    def claims_for(self, scope: str) -> dict[str, object]:
        """``email``/``email_verified`` with scope ``email``, ``name`` with ``profile``, ``phone_number`` with
        ``phone`` (OIDC Core §5.4); nothing the account does not have."""
        scopes = set(scope.split())
        claims: dict[str, object] = {}
        if "email" in scopes and self.email:
            claims["email"] = self.email
            claims["email_verified"] = self.email_verified
        if "profile" in scopes and self.name:
            claims["name"] = self.name
        if "phone" in scopes and self.phone:
            claims["phone_number"] = self.phone
        return claims


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):  # type: ignore[misc]
    code_hash: str
    client_id: str
    user_id: uuid.UUID
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    auth_time: datetime
    expires_at: datetime
    used_at: datetime | None
    token_family: uuid.UUID | None

    @classmethod
    def from_row(cls, row: Any) -> AuthorizationCode:
        return cls(
            code_hash=row.code_hash,
            client_id=row.client_id,
            user_id=row.user_id,
            redirect_uri=row.redirect_uri,
            scope=row.scope,
            nonce=row.nonce,
            code_challenge=row.code_challenge,
            auth_time=row.auth_time,
            expires_at=row.expires_at,
            used_at=row.used_at,
            token_family=row.token_family,
        )

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return int(self.auth_time.timestamp())


@dataclass(frozen=True)
class RefreshToken(TokenMixin):  # type: ignore[misc]
    token_hash: str
    family_id: uuid.UUID
    client_id: str
    user_id: uuid.UUID
    scope: str
    auth_time: datetime
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    revoked_at: datetime | None
    now: datetime

    @classmethod
    def from_row(cls, row: Any, *, now: datetime) -> RefreshToken:
        return cls(
            token_hash=row.token_hash,
            family_id=row.family_id,
            client_id=row.client_id,
            user_id=row.user_id,
            scope=row.scope,
            auth_time=row.auth_time,
            issued_at=row.issued_at,
            expires_at=row.expires_at,
            used_at=row.used_at,
            revoked_at=row.revoked_at,
            now=now,
        )

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - self.now).total_seconds()))

    def is_expired(self) -> bool:
        return self.expires_at <= self.now

    def is_revoked(self) -> bool:
        """A rotated (used) token is as dead as a revoked one."""
        return self.revoked_at is not None or self.used_at is not None

    def introspection(self) -> dict[str, object]:
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": self.client_id,
            "sub": str(self.user_id),
            "scope": self.scope,
            "iat": int(self.issued_at.timestamp()),
            "exp": int(self.expires_at.timestamp()),
        }


@dataclass(frozen=True)
class AccessToken(TokenMixin):  # type: ignore[misc]
    """One of our JWT access tokens whose signature and issuer were checked (expiry is asked here)."""

    claims: dict[str, Any]
    revoked: bool
    now: datetime

    @property
    def jti(self) -> str:
        return str(self.claims["jti"])

    def check_client(self, client: Client) -> bool:
        return self.claims.get("client_id") == client.client_id

    def get_scope(self) -> str:
        return str(self.claims.get("scope", ""))

    def get_expires_in(self) -> int:
        return max(0, int(self.claims["exp"]) - int(self.now.timestamp()))

    def is_expired(self) -> bool:
        return int(self.claims["exp"]) <= int(self.now.timestamp())

    def is_revoked(self) -> bool:
        return self.revoked

    def introspection(self) -> dict[str, object]:
        keep = ("iss", "sub", "aud", "client_id", "scope", "roles", "iat", "nbf", "exp", "jti", "auth_time")
        return {"active": True, "token_type": "Bearer", **{k: self.claims[k] for k in keep if k in self.claims}}
