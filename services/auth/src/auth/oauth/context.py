"""The per-request context Authlib's callbacks read (what the use case pre-loaded) and the writes they decide
(applied by the use case after Authlib returns). See :mod:`auth.oauth.server`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from auth.oauth.http import OAuthResponse
from auth.oauth.models import AccessToken, AuthorizationCode, Client, EndUser, RefreshToken
from auth.settings import AuthSettings
from auth.usecases.keys import SigningKey

# --- what Authlib decides, to be written after it returns --------------------------------------------


@dataclass(frozen=True)
class NewCode:
    code_hash: str
    client_id: str
    user_id: uuid.UUID
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    auth_time: datetime
    expires_at: datetime


@dataclass(frozen=True)
class CodeUsed:
    code_hash: str
    token_family: uuid.UUID | None


@dataclass(frozen=True)
class NewRefreshToken:
    token_hash: str
    family_id: uuid.UUID
    client_id: str
    user_id: uuid.UUID
    scope: str
    auth_time: datetime
    expires_at: datetime


@dataclass(frozen=True)
class RefreshTokenUsed:
    token_hash: str


@dataclass(frozen=True)
class RevokeFamily:
    family_id: uuid.UUID | None
    reason: str
    """``code_replayed``, ``refresh_token_reused`` or ``revoked`` (audited when it is an attack)."""
    client_id: str
    user_id: uuid.UUID


@dataclass(frozen=True)
class RevokeAccessToken:
    jti: str
    expires_at: datetime


@dataclass(frozen=True)
class EndBrowserSession:
    pass


Write = NewCode | CodeUsed | NewRefreshToken | RefreshTokenUsed | RevokeFamily | RevokeAccessToken | EndBrowserSession


# --- the per-request context ---------------------------------------------------------------------------


@dataclass
class Context:
    """What one request pre-loaded for Authlib, and what Authlib decided to write."""

    settings: AuthSettings
    now: datetime
    signing_key: SigningKey | None = None
    clients: dict[str, Client] = field(default_factory=dict)
    users: dict[uuid.UUID, EndUser] = field(default_factory=dict)
    code: AuthorizationCode | None = None
    refresh_token: RefreshToken | None = None
    presented_token: AccessToken | RefreshToken | None = None
    """The token sent to introspection or revocation, if it is one of ours."""
    nonce_used: bool = False
    jwks: dict[str, Any] | None = None
    # Set while Authlib runs:
    family_id: uuid.UUID | None = None
    """The refresh-token family this request continues (refresh) or starts (code exchange)."""
    auth_time: datetime | None = None
    on_success: list[Write] = field(default_factory=list)
    always: list[Write] = field(default_factory=list)

    @property
    def issuer(self) -> str:
        return self.settings.jwt_issuer

    def writes(self, response: OAuthResponse) -> list[Write]:
        return [*self.always, *(self.on_success if response.ok else [])]
