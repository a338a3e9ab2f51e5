"""The per-sign-in secrets of the authorization code flow, and where the browser may be sent afterwards.

``state`` (CSRF protection of the callback, RFC 6749 §10.12), ``nonce`` (binds the id_token to this
sign-in, OIDC Core §3.1.2.1) and the PKCE ``code_verifier`` (RFC 7636, S256 only) are fresh random values
for each sign-in. The browser keeps them in a short-lived, signed, HttpOnly cookie (the state only as its
SHA-256), so the callback is accepted only from the browser that started the sign-in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_NEXT = 2048
DEFAULT_NEXT = "/"


@dataclass(frozen=True)
class FlowSecrets:
    state: str
    nonce: str
    code_verifier: str

    @property
    def code_challenge(self) -> str:
        return code_challenge(self.code_verifier)

    @property
    def state_hash(self) -> str:
        return state_hash(self.state)


def new_flow() -> FlowSecrets:
    # 32 random bytes each; the verifier is 43 characters of the unreserved set (RFC 7636 §4.1).
    return FlowSecrets(
        state=secrets.token_urlsafe(32), nonce=secrets.token_urlsafe(32), code_verifier=secrets.token_urlsafe(32)
    )


def code_challenge(verifier: str) -> str:
    """S256: base64url(SHA-256(verifier)) without padding (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def same_state(returned: str | None, expected_hash: str) -> bool:
    if not returned or len(returned) > 512:
        return False
    return hmac.compare_digest(state_hash(returned), expected_hash)


def same_value(returned: object, expected: str) -> bool:
    return isinstance(returned, str) and hmac.compare_digest(returned.encode(), expected.encode())


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site (``/profile``, ``/oauth2/authorize?…``); ``DEFAULT_NEXT`` when
    absent; None when it could lead elsewhere (an absolute URL, ``//host``, ``/\\host``, control characters):
    the caller refuses it, so a sign-in link can never be an open redirect."""
    if value is None or value == "":
        return DEFAULT_NEXT
    if len(value) > MAX_NEXT or not value.startswith("/") or value.startswith("//"):
        return None
    if "\\" in value or any(ord(char) < 0x21 or ord(char) == 0x7F for char in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value
