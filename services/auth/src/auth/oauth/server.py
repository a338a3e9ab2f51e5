"""Authlib's ``AuthorizationServer`` wrapped for an asyncio service.

How the synchronous Authlib runs here (the choice, and why)
    Authlib's server is synchronous: it calls ``query_client``, ``query_authorization_code``,
    ``save_token``… and expects them to return at once. Our database is async. We do not run Authlib in a
    thread with a sync bridge back to the event loop: that would hold a worker thread and a pooled connection
    across every callback, make the transaction span two threads, and hide where I/O happens. Instead each
    request goes in three steps, all in one unit of work (:mod:`auth.usecases.tokens`):

    1. **Load** (async): everything Authlib can ask for is read first into the plain objects of
       :mod:`auth.oauth.models` and put on a :class:`Context`: the client(s) the request names, the code or
       refresh token it presents (``SELECT … FOR UPDATE``, so a concurrent use of the same one waits for us),
       the user and their roles, the signing key. A presented client secret is checked against its argon2
       hash in a thread (``asyncio.to_thread``) before Authlib asks.
    2. **Decide** (sync, on the event loop): Authlib runs with callbacks that only read the context and
       append the writes it decides (:class:`Write`) to ``ctx.on_success`` (applied if the answer is a
       success) or ``ctx.always`` (applied whatever the answer: revoking a family when a used refresh token
       or code comes back). There is no I/O left, only microseconds of Python and one or two RS256
       signatures (~1 ms), like any handler that signs a JWT, so a thread hop would cost more than it saves.
    3. **Persist** (async): the writes are applied and the unit of work commits; only then is the answer sent.

    The server object is cheap and built per request around its context, so nothing request-specific is
    shared between concurrent requests (``query_client`` has no request parameter: the context on the server
    is how it finds the pre-loaded client).

Grants (:mod:`auth.oauth.grants`) are Authlib's own, subclassed only where the storage is ours: authorization
code with PKCE (``CodeChallenge`` restricted to S256 and required), OpenID Connect's ``OpenIDCode``
extension for the id_token, refresh token with rotation, client credentials; and its introspection,
revocation and RP-initiated logout endpoints.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer
from authlib.oauth2.rfc6749.util import list_to_scope
from authlib.oauth2.rfc9207 import IssuerParameter

from auth.domain.secrets import new_token, token_hash
from auth.domain.tokens import access_token_claims
from auth.oauth import grants
from auth.oauth.context import Context, NewRefreshToken
from auth.oauth.http import HttpRequest, OAuthResponse
from auth.oauth.models import Client, EndUser
from auth.oauth.requests import SnapshotJsonRequest, SnapshotOAuth2Request

log = logging.getLogger(__name__)


class Issuer(IssuerParameter):  # type: ignore[misc]
    """RFC 9207: ``iss`` on every authorization response, errors included."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer

    def get_issuer(self) -> str:
        return self.issuer


class GorodAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """Authlib's core server with our adapter: snapshots in, :class:`OAuthResponse` out, no I/O inside."""

    def __init__(self, ctx: Context) -> None:
        super().__init__(scopes_supported=None)  # each client's own scopes decide (Client.get_allowed_scope)
        self.ctx = ctx
        self.issuer = Issuer(ctx.issuer)
        self.register_extension(self.issuer)
        self.register_token_generator("default", self._generate_token)
        grants.register(self)

    # -- the adapter -------------------------------------------------------------------------------------

    def create_oauth2_request(self, request: HttpRequest | SnapshotOAuth2Request) -> SnapshotOAuth2Request:
        if isinstance(request, SnapshotOAuth2Request):
            return request
        return SnapshotOAuth2Request(request, self.ctx)

    def create_json_request(self, request: HttpRequest) -> SnapshotJsonRequest:
        return SnapshotJsonRequest(request, self.ctx)

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status=status, body=body, headers=list(headers or []))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        client = kwargs.get("client")
        log.debug("oauth signal %s (client %s)", name, getattr(client, "client_id", None))

    # -- storage callbacks: read the context, never the database -------------------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.ctx.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: SnapshotOAuth2Request) -> None:
        """Access tokens are self-contained JWTs: only a refresh token is stored (its hash)."""
        raw = token.get("refresh_token")
        if not raw or request.user is None:
            return
        ctx = self.ctx
        if ctx.family_id is None:
            ctx.family_id = uuid.uuid4()
        assert ctx.auth_time is not None
        ctx.on_success.append(
            NewRefreshToken(
                token_hash=token_hash(raw),
                family_id=ctx.family_id,
                client_id=request.client.client_id,
                user_id=request.user.id,
                scope=token.get("scope", ""),
                auth_time=ctx.auth_time,
                expires_at=ctx.now + timedelta(seconds=ctx.settings.refresh_token_ttl),
            )
        )

    def _generate_token(
        self,
        grant_type: str,
        client: Client,
        user: EndUser | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        ctx = self.ctx
        assert ctx.signing_key is not None, "the use case loads the signing key before issuing tokens"
        settings = ctx.settings
        if grant_type == "client_credentials" and not scope:
            scope = list_to_scope(list(client.scopes))
        scope = scope or ""
        ttl = settings.access_token_ttl
        claims = access_token_claims(
            issuer=ctx.issuer,
            subject=str(user.id) if user else client.client_id,
            client_id=client.client_id,
            audience=client.audiences or settings.default_audiences,
            scope=scope,
            roles=user.roles if user else (),
            issued_at=ctx.now,
            ttl=ttl,
            auth_time=ctx.auth_time if user else None,
        )
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": ctx.signing_key.sign(claims, typ="at+jwt"),
            "expires_in": ttl,
            "scope": scope,
        }
        if include_refresh_token and user is not None:
            token["refresh_token"] = new_token()
        return token
