"""The configuration of an external identity provider, as stored in ``auth.identity_providers.settings``.

Two kinds of provider:

``oidc``
    OpenID Connect: either ``discovery_url`` (``…/.well-known/openid-configuration``), or ``issuer``,
    ``authorization_endpoint``, ``token_endpoint`` and ``jwks_uri`` given explicitly (an explicit endpoint
    also overrides the discovered one). The ``id_token`` is verified (signature against the provider's JWKS,
    ``iss``, ``aud``, ``exp``, ``nonce``); ``userinfo`` is called too when the provider has one and
    ``use_userinfo`` is on.
``oauth2``
    Plain OAuth 2.0 with a profile endpoint: ``authorization_endpoint``, ``token_endpoint`` and
    ``userinfo_endpoint`` (which answers JSON for the access token) are required; there is no id_token.

The claims mapping names, for each thing we need, the claim that holds it; a dotted path reaches into
nested JSON objects (``data.user.id``). The client secret is not part of the settings: it is read from the
environment variable ``AUTH_IDP_<SLUG>_CLIENT_SECRET`` (slug upper-cased, ``-`` as ``_``) when it is needed.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SLUG_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
"""A provider's slug: part of public URLs (``/signin/{slug}``) and of the secret's variable name."""

_SLUG = re.compile(SLUG_PATTERN)
_CLAIM_PATH = r"^[A-Za-z0-9_:$@/-]+(\.[A-Za-z0-9_:$@/-]+)*$"
_CHANNEL = r"^[a-z0-9][a-z0-9.\-]{0,31}$"
_LOOPBACK_NAMES = frozenset({"localhost"})

RESERVED_AUTHORIZE_PARAMS = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
        "response_mode",
        "request",
        "request_uri",
    }
)


def is_valid_slug(slug: str) -> bool:
    return bool(_SLUG.match(slug))


def check_endpoint_url(value: str) -> str:
    """An endpoint must be HTTPS; plain HTTP is allowed only on loopback (development and tests)."""
    parts = urlsplit(value)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError("an endpoint must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise ValueError("an endpoint must not carry credentials")
    if parts.fragment:
        raise ValueError("an endpoint must not have a fragment")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError("an endpoint must use https (plain http only on loopback)")
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ClaimsMapping(BaseModel):
    """Which claim (of the id_token and the userinfo answer, merged) holds what we need."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subject: str = Field(default="sub", pattern=_CLAIM_PATH, description="The provider's stable user id.")
    email: str | None = Field(default="email", pattern=_CLAIM_PATH)
    email_verified: str | None = Field(
        default="email_verified",
        pattern=_CLAIM_PATH,
        description="A boolean claim; without it, the e-mail is taken as not verified.",
    )
    name: str | None = Field(default="name", pattern=_CLAIM_PATH, description="Full name, as the person is called.")
    given_name: str | None = Field(default=None, pattern=_CLAIM_PATH, description="Used when ``name`` is absent.")
    family_name: str | None = Field(default=None, pattern=_CLAIM_PATH, description="Used when ``name`` is absent.")
    volunteer_id: str | None = Field(
        default=None, pattern=_CLAIM_PATH, description="The volunteer's id at the provider (DOBRO.RU's ID)."
    )


class ProviderSettings(BaseModel):
    """The validated settings of one provider (``auth.identity_providers.settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    protocol: Literal["oidc", "oauth2"] = "oidc"
    discovery_url: str | None = None
    issuer: str | None = Field(
        default=None, description="Expected ``iss`` of id_tokens; taken from discovery when not given."
    )
    authorization_endpoint: str | None = None
    token_endpoint: str | None = None
    userinfo_endpoint: str | None = None
    jwks_uri: str | None = None
    client_id: str = Field(min_length=1, max_length=256)
    token_endpoint_auth_method: Literal["client_secret_basic", "client_secret_post", "none"] = "client_secret_basic"  # noqa: S105 (the name of a method, not a secret)
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    pkce: bool = Field(default=True, description="Send a PKCE S256 challenge (recommended even for confidential).")
    use_userinfo: bool = Field(default=True, description="OIDC: also call userinfo when the provider has one.")
    authorize_params: dict[str, str] = Field(
        default_factory=dict, description="Extra query parameters of the authorization request (e.g. prompt)."
    )
    claims: ClaimsMapping = Field(default_factory=ClaimsMapping)
    grant_volunteer: bool = Field(default=True, description="A linked account gets the role ``volunteer``.")
    channel: str = Field(
        default="dobro.ru",
        pattern=_CHANNEL,
        description="Recorded as the registration and consent channel of accounts created through it.",
    )
    timeout: float = Field(default=10.0, gt=0, le=60, description="Seconds per request to the provider.")

    @field_validator("discovery_url", "authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        return None if value is None else check_endpoint_url(value)

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        if value is not None and not urlsplit(value).scheme:
            raise ValueError("issuer must be a URL")
        return value

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not scope or not re.fullmatch(r"[\x21\x23-\x5b\x5d-\x7e]+", scope) for scope in value):
            raise ValueError("a scope is a non-empty token without spaces or quotes (RFC 6749 §3.3)")
        return tuple(dict.fromkeys(value))

    @field_validator("authorize_params")
    @classmethod
    def _authorize_params(cls, value: dict[str, str]) -> dict[str, str]:
        clash = RESERVED_AUTHORIZE_PARAMS & set(value)
        if clash:
            raise ValueError(f"these parameters are set by Gorod itself: {sorted(clash)}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> ProviderSettings:
        if self.protocol == "oidc":
            if "openid" not in self.scopes:
                raise ValueError("an OpenID Connect provider needs the scope openid")
            if self.discovery_url is None:
                missing = [
                    name
                    for name in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
                    if getattr(self, name) is None
                ]
                if missing:
                    raise ValueError(f"without discovery_url, an OIDC provider needs {missing}")
        else:
            if self.discovery_url is not None:
                raise ValueError("a plain OAuth 2 provider is configured with explicit endpoints, not discovery")
            missing = [
                name
                for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"a plain OAuth 2 provider needs {missing}")
        if self.is_public_client and not self.pkce:
            raise ValueError("a public client (no secret) must use PKCE")
        return self

    @property
    def is_oidc(self) -> bool:
        return self.protocol == "oidc"

    @property
    def is_public_client(self) -> bool:
        """No client secret: the client authenticates by PKCE alone."""
        return self.token_endpoint_auth_method == "none"  # noqa: S105 (a method name)

    @property
    def secret_in_body(self) -> bool:
        """``client_secret_post`` rather than HTTP Basic."""
        return self.token_endpoint_auth_method == "client_secret_post"  # noqa: S105 (a method name)


@dataclass(frozen=True)
class Provider:
    slug: str
    display_name: str
    settings: ProviderSettings
    enabled: bool = True

    @property
    def secret_variable(self) -> str:
        return secret_variable(self.slug)

    def client_secret(self) -> str | None:
        """The client secret, from the environment at the time of the call; None for a public client."""
        if self.settings.is_public_client:
            return None
        return os.environ.get(self.secret_variable) or None

    @property
    def secret_missing(self) -> bool:
        return not self.settings.is_public_client and self.client_secret() is None


def secret_variable(slug: str) -> str:
    """``AUTH_IDP_<SLUG>_CLIENT_SECRET``: where the client secret of provider ``slug`` is kept."""
    return f"AUTH_IDP_{slug.upper().replace('-', '_')}_CLIENT_SECRET"


def callback_path(slug: str) -> str:
    return f"/signin/{slug}/callback"


def redirect_uri(issuer: str, slug: str) -> str:
    """What the provider must have registered for us: ``{issuer}/signin/{slug}/callback``."""
    return issuer.rstrip("/") + callback_path(slug)
