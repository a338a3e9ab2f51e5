"""From a provider's claims (its id_token and userinfo answer) to what Gorod needs of a person."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from auth.domain.accounts import InvalidInput
from auth.domain.accounts import normalise_email as checked_email
from auth.federation.config import ClaimsMapping
from auth.federation.errors import ProviderError

MAX_SUBJECT = 255
MAX_NAME = 200
MAX_VOLUNTEER_ID = 64

_MISSING = object()


@dataclass(frozen=True)
class ExternalIdentity:
    """A person as a provider vouches for them, already mapped to our names."""

    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    volunteer_id: str | None = None

    def stored_claims(self) -> dict[str, Any]:
        """What we keep in ``auth.external_identities.claims`` (exported and erased with the account)."""
        claims: dict[str, Any] = {"email_verified": self.email_verified}
        if self.email is not None:
            claims["email"] = self.email
        if self.name is not None:
            claims["name"] = self.name
        if self.volunteer_id is not None:
            claims["volunteer_id"] = self.volunteer_id
        return claims

    @classmethod
    def from_stored(cls, provider: str, subject: str, claims: Mapping[str, Any]) -> ExternalIdentity:
        def text(key: str) -> str | None:
            value = claims.get(key)
            return value if isinstance(value, str) else None

        return cls(
            provider=provider,
            subject=subject,
            email=text("email"),
            email_verified=claims.get("email_verified") is True,
            name=text("name"),
            volunteer_id=text("volunteer_id"),
        )


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted ``path`` (``data.user.id``), or None. A claim whose own name contains dots
    (``https://example.org/claims.id``) is found too: the whole path is tried as one name first."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def map_claims(provider: str, claims: Mapping[str, Any], mapping: ClaimsMapping) -> ExternalIdentity:
    """Raises :class:`ProviderError` when the subject is missing or malformed; any other claim that is
    missing or malformed is left out (the person is asked for what is missing)."""
    subject = _identifier(claim_at(claims, mapping.subject), MAX_SUBJECT)
    if subject is None:
        raise ProviderError("the subject claim is missing or malformed")
    email = _email(claim_at(claims, mapping.email)) if mapping.email else None
    verified = mapping.email_verified is not None and _truthy(claim_at(claims, mapping.email_verified))
    name = _text(claim_at(claims, mapping.name), MAX_NAME) if mapping.name else None
    if name is None:
        parts = [
            _text(claim_at(claims, path), MAX_NAME)
            for path in (mapping.given_name, mapping.family_name)
            if path is not None
        ]
        name = " ".join(part for part in parts if part)[:MAX_NAME] or None
    volunteer_id = (
        _identifier(claim_at(claims, mapping.volunteer_id), MAX_VOLUNTEER_ID) if mapping.volunteer_id else None
    )
    return ExternalIdentity(
        provider=provider,
        subject=subject,
        email=email,
        email_verified=verified and email is not None,
        name=name,
        volunteer_id=volunteer_id,
    )


def normalise_email(value: str) -> str | None:
    """A syntactically valid address, lower-cased (the rule of registration); None otherwise."""
    try:
        return checked_email(value)
    except InvalidInput:
        return None


def _identifier(value: Any, limit: int) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not isinstance(value, str):
        return None
    text: str = value.strip()
    if not text or len(text) > limit or not text.isprintable():
        return None
    return text


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    text = " ".join(value.split())
    if not text or not text.isprintable():
        return None
    return text[:limit]


def _email(value: Any) -> str | None:
    return normalise_email(value) if isinstance(value, str) else None


def _truthy(value: Any) -> bool:
    """OIDC says boolean; some providers send the string ``"true"``."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
