"""Secrets: high-entropy tokens are stored as SHA-256 digests, passwords and client secrets as argon2id.

Argon2 is CPU work, not I/O: callers run it off the event loop (``asyncio.to_thread``).
"""

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def new_token(nbytes: int = 32) -> str:
    """An unguessable URL-safe token (codes, refresh tokens, session ids, e-mail links)."""
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """What we store of a high-entropy token: enough to find it, useless to a thief of the database."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, stored_hash: str | None) -> bool:
    """True if it matches; a missing hash still costs one hash, so timing does not reveal the account."""
    if stored_hash is None:
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
