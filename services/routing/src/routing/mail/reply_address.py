"""Per-appeal reply addresses: ``appeal+<token>@<domain>`` (plus addressing, RFC 5233 subaddress).

The token (the appeal's ``reply_token``) is best made by :func:`new_token`: 160 random bits in lower-case base32
(32 characters), unguessable, and safe from mail systems that change the case of a local part. The parser accepts
any URL-safe token of 16-64 characters and passes it on as received. The same address is the envelope sender
(VERP), so bounces come back to it too.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterable
from email.utils import getaddresses

TOKEN_BYTES = 20
TOKEN_LENGTH = 32
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_token() -> str:
    return base64.b32encode(secrets.token_bytes(TOKEN_BYTES)).decode("ascii").rstrip("=").lower()


def reply_address(token: str, *, local_part: str, domain: str) -> str:
    return f"{local_part}+{token}@{domain}"


def token_from_address(address: str, *, local_part: str, domain: str) -> str | None:
    """The token of one of our reply addresses (any case, with or without a display name); else None."""
    _name, addr = getaddresses([address])[0] if address else ("", "")
    local, at, host = addr.strip().rpartition("@")
    if not at or host.lower() != domain.lower():
        return None
    base, plus, token = local.partition("+")
    if not plus or base.lower() != local_part.lower() or not _TOKEN.match(token):
        return None
    return token


def tokens_in(addresses: Iterable[str], *, local_part: str, domain: str) -> list[str]:
    """Every distinct token among ``addresses`` (header values may hold several addresses each), in order."""
    found: list[str] = []
    for _name, addr in getaddresses([a for a in addresses if a]):
        token = token_from_address(addr, local_part=local_part, domain=domain)
        if token and token not in found:
            found.append(token)
    return found
