"""A stand-in for auth in other services' tests: a real JWKS server on loopback and a token minter.

Services verify access tokens against a JWKS fetched over HTTP, so tests need an issuer that speaks
HTTP, not a patched verifier. The test plugin starts one per session and points every service but auth
(which signs with its own keys) at it through ``<SERVICE>_JWKS_URL`` and ``<SERVICE>_JWT_ISSUER``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

JWKS_PATH = "/.well-known/jwks.json"
TEST_ISSUER = "http://auth.gorod.test"


class JwksServer:
    """A real HTTP server on 127.0.0.1 serving whatever key set the test publishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[dict[str, Any]] = []
        self._fetches = 0
        self.status = 200
        self.delay = 0.0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                with server._lock:
                    server._fetches += 1
                    body = json.dumps({"keys": server._keys}).encode()
                    status, delay = server.status, server.delay
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{JWKS_PATH}"

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._fetches

    def publish(self, *jwks: dict[str, Any]) -> None:
        with self._lock:
            self._keys = list(jwks)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: Any

    @classmethod
    def generate_rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def jwk(self, **overrides: Any) -> dict[str, Any]:
        public = jwt.get_algorithm_by_name(self.alg).to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public, "kid": self.kid, "alg": self.alg, "use": "sig", **overrides}

    def public_pem(self) -> bytes:
        return bytes(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def sign(
        self, payload: dict[str, Any], *, kid: str | None = None, alg: str | None = None, typ: str | None = "at+jwt"
    ) -> str:
        headers = {"kid": kid or self.kid, "typ": typ}
        return jwt.encode(payload, self.private_key, algorithm=alg or self.alg, headers=headers)


class TokenMinter:
    """Mints RFC 9068 access tokens as auth would, signed by a key the JWKS server publishes."""

    def __init__(self, server: JwksServer, key: SigningKey, issuer: str = TEST_ISSUER) -> None:
        self.server = server
        self.key = key
        self.issuer = issuer

    @property
    def jwks_url(self) -> str:
        return self.server.url

    def mint(
        self,
        audience: str | Iterable[str],
        *,
        subject: str | uuid.UUID | None = None,
        roles: Iterable[str] = ("citizen",),
        scopes: Iterable[str] = (),
        client_id: str = "gorod-web",
        ttl: int = 300,
        **claims: Any,
    ) -> str:
        """A token for ``audience`` (a service name, or several); a fresh random user unless ``subject``."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience if isinstance(audience, str) else list(audience),
            "sub": str(subject or uuid.uuid4()),
            "iat": now,
            "exp": now + ttl,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "roles": sorted(set(roles)),
            "jti": uuid.uuid4().hex,
        }
        payload.update(claims)
        return self.key.sign(payload)

    def bearer(self, audience: str | Iterable[str], **options: Any) -> dict[str, str]:
        """The Authorization header for :meth:`mint`."""
        return {"Authorization": f"Bearer {self.mint(audience, **options)}"}
