"""The reverse proxy: one ASGI middleware in front of the gateway's own routes.

For a path the route table knows it does, in this order: refuse dot segments; per-IP rate limit; check a bearer
token for the route's audience (invalid: 401); per-user/client rate limit; ``/admin/v1/*`` needs the operator
role and is audited; body size limit (413); then streams the request to the owning service and its answer back,
with hop-by-hop headers stripped (RFC 9110 §7.6.1, including those the ``Connection`` header names),
client-sent identity headers removed, ``X-Forwarded-For/-Proto/-Host`` set, the request id and ``traceparent``
passed on. An upstream that does not accept the connection gives 503 at once; one that is too slow, 504.
Everything else (health, Open311, the merged OpenAPI) falls through to the FastAPI app.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from uuid import uuid4

import httpx
import redis
from asgi_correlation_id import correlation_id
from asgi_correlation_id.middleware import FAILED_VALIDATION_MESSAGE, is_valid_uuid4
from prometheus_client import CollectorRegistry, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.audit import AuditLog
from gateway.cors import CorsPolicy
from gateway.ratelimit import Decision, RateLimiter
from gateway.routes import Route, RouteTable
from gateway.settings import GatewaySettings
from gateway.upstream_http import (
    Exchange,
    Origin,
    UpstreamClient,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from servicekit.http.problems import problem_response
from servicekit.logs import traceparent_var, valid_traceparent
from servicekit.security import InvalidToken, KeySetUnavailable, Principal, TokenExpired, TokenVerifier

log = logging.getLogger(__name__)

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
IDENTITY_HEADERS = frozenset(
    {
        b"x-user-id",
        b"x-user",
        b"x-user-roles",
        b"x-roles",
        b"x-scopes",
        b"x-client-id",
        b"x-principal",
        b"x-forwarded-user",
        b"x-forwarded-email",
        b"x-forwarded-groups",
        b"x-forwarded-preferred-username",
        b"x-forwarded-access-token",
        b"x-remote-user",
        b"remote-user",
        b"x-authenticated-user",
        b"x-auth-request-user",
        b"x-auth-request-email",
        b"x-auth-request-groups",
        b"x-auth-user",
        b"x-auth-roles",
    }
)
# Set by the gateway itself, never taken from the client (unless it is a trusted proxy, for X-Forwarded-For).
OWN_REQUEST_HEADERS = frozenset(
    {
        b"host",
        b"forwarded",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-real-ip",
        b"x-request-id",
        b"traceparent",
    }
)
# Set by the gateway's own server on the way out, or by the request id middleware: not copied from upstream.
OWN_RESPONSE_HEADERS = frozenset({b"server", b"date", b"x-request-id"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DETAIL_DOWN = "Сервис «{service}» временно недоступен. Попробуйте позже."
DETAIL_SLOW = "Сервис «{service}» не ответил вовремя. Попробуйте позже."
DETAIL_BAD_UPSTREAM = "Сервис «{service}» ответил с ошибкой. Попробуйте позже."
DETAIL_TOO_LARGE = "Слишком большой запрос: не больше {limit} байт."
DETAIL_RATE = "Слишком много запросов. Повторите через {seconds} с."
DETAIL_SIGN_IN = "Нужно войти в систему."
DETAIL_REJECTED = "Не удалось подтвердить вход. Войдите заново."
DETAIL_EXPIRED = "Сеанс входа истёк. Войдите заново."
DETAIL_KEYS_DOWN = "Не удаётся проверить вход: служба входа временно недоступна. Попробуйте позже."
DETAIL_OPERATOR = "Это действие доступно только операторам."
DETAIL_BAD_PATH = "Адрес запроса составлен неверно."
DETAIL_CLIENT_GONE = "Запрос прерван клиентом."
DETAIL_INTERNAL = "Внутренняя ошибка шлюза. Мы уже разбираемся."


class BodyTooLarge(Exception):
    pass


class ClientWentAway(Exception):
    """The client disconnected while its body was being sent on."""


@dataclass
class EdgeState:
    """The long-lived parts the proxy needs; built in the app's lifespan."""

    settings: GatewaySettings
    routes: RouteTable
    client: httpx.AsyncClient
    """For the gateway's own calls (JWKS, health, Open311, CORS origins)."""
    upstream: UpstreamClient
    """For proxied requests, the hot path: httpcore's pool costs O(connections) per request (encode/httpcore#1035)
    and aiohttp's client more CPU than the service answering; see ``gateway.upstream_http``."""
    origins: dict[str, Origin]
    """Each service's parsed base URL."""
    limiter: RateLimiter | None
    cors: CorsPolicy
    audit: AuditLog
    verifiers: dict[str, TokenVerifier]

    def verifier(self, audience: str) -> TokenVerifier:
        verifier = self.verifiers.get(audience)
        if verifier is None:
            verifier = self.verifiers[audience] = TokenVerifier(
                jwks_url=self.settings.jwks_url,
                issuer=self.settings.jwt_issuer,
                audience=audience,
                http_client=self.client,
            )
        return verifier


class Refused(Exception):
    """Answer with a problem document instead of proxying."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}


def bearer_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


async def verify_bearer(state: EdgeState, token: str, audience: str) -> Principal:
    """The principal of a token for ``audience``; :class:`Refused` (401/503) otherwise."""
    verifier = state.verifier(audience)
    try:
        return await verifier.verify(token)
    except KeySetUnavailable:
        raise Refused(503, DETAIL_KEYS_DOWN, {"Retry-After": str(int(verifier.min_refetch_interval) or 1)}) from None
    except InvalidToken as error:
        log.info("edge refused a bearer token: %s", error)
        detail = DETAIL_EXPIRED if isinstance(error, TokenExpired) else DETAIL_REJECTED
        raise Refused(401, detail, {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None


def client_ip(scope: Scope) -> str:
    """The client's address as the server resolved it.

    uvicorn replaces the peer by the ``X-Forwarded-For`` client only when the peer is one of its
    ``--forwarded-allow-ips`` (``FORWARDED_ALLOW_IPS``, default 127.0.0.1): set it to the load balancer in front
    of the gateway. Any other client-sent ``X-Forwarded-*`` is dropped here and replaced.
    """
    return str(scope["client"][0]) if scope.get("client") else "unknown"


def new_traceparent(incoming: str | None) -> str:
    """Continue the caller's trace (a new span id of ours) or start one."""
    span = secrets.token_hex(8)
    if incoming:
        version, trace_id, _parent, flags = incoming.split("-")
        return f"{version}-{trace_id}-{span}-{flags}"
    return f"00-{secrets.token_hex(16)}-{span}-01"


def has_dot_segment(path: str) -> bool:
    return any(segment in {".", ".."} for segment in path.split("/"))


class ProxyMetrics:
    """Duration of proxied requests by service, method and status, on the gateway's /metrics.

    Proxied requests skip the generic instrumentation: it looks each path up among the gateway's own routes,
    which cost a third of the gateway's CPU per proxied request and finds nothing."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._duration = Histogram(
            "gateway_proxied_request_duration_seconds",
            "Time from the request's arrival to the end of its answer, for requests proxied to a service.",
            ("service", "method", "status"),
            registry=registry,
        )

        self._children: dict[tuple[str, str, int], Histogram] = {}

    def observe(self, service: str, method: str, status: int, seconds: float) -> None:
        key = (service, method, status)
        child = self._children.get(key)
        if child is None:  # labels() takes a lock and formats the labels on every call
            child = self._children[key] = self._duration.labels(service, method, str(status))
        child.observe(seconds)


class ProxyMiddleware:
    """The gateway's outermost layer: request id and ``traceparent`` for every request, CORS, then either the
    proxy (route table match) or the FastAPI app (health, Open311, docs, metrics).

    It runs in front of FastAPI (see ``gateway.main.Gateway``): a proxied request never pays for the telemetry,
    error and routing layers the gateway's own routes need, which cost as much CPU per request as the proxying
    itself."""

    def __init__(
        self, app: ASGIApp, state_of: Callable[[], EdgeState | None], metrics: ProxyMetrics | None = None
    ) -> None:
        self.app = app
        self._state_of = state_of
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(reversed(scope["headers"]))  # the first of repeated headers wins
        request_id = _request_id(headers.get(b"x-request-id"))
        raw_traceparent = headers.get(b"traceparent")
        id_token = correlation_id.set(request_id)
        trace_token = traceparent_var.set(
            valid_traceparent(raw_traceparent.decode("latin-1")) if raw_traceparent else None
        )
        status = [0]
        encoded_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", encoded_id)]
            await send(message)

        try:
            await self._dispatch(scope, receive, send_with_id, headers, status)
        finally:
            traceparent_var.reset(trace_token)
            correlation_id.reset(id_token)

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, headers: dict[bytes, bytes], status: list[int]
    ) -> None:
        state = self._state_of()
        if state is None:
            await self.app(scope, receive, send)
            return
        origin = headers.get(b"origin")
        if origin is not None:
            if scope["method"] == "OPTIONS" and b"access-control-request-method" in headers:
                await state.cors.preflight(origin, scope, send)
                return
            send = state.cors.wrap_send(origin, send)
        route = state.routes.match(scope["path"])
        if route is None:
            if scope["path"].startswith("/open311/"):  # the gateway's own API: the IP limits apply too
                try:
                    kind = "write" if scope["method"] in WRITE_METHODS else "read"
                    await _limit(state, f"ip:{client_ip(scope)}:{kind}", getattr(state.settings, f"ip_{kind}_limit"))
                except Refused as refusal:
                    await problem_response(
                        refusal.status, refusal.detail, instance=scope["path"], headers=refusal.headers
                    )(scope, receive, send)
                    return
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            await self._proxy(state, route, scope, receive, send, status)
        except Exception:
            # What FastAPI's error middleware does for its own routes, which a proxied request bypasses; logged
            # here, with the request id, rather than raised again for the server to log without it.
            log.exception("proxying %s %s failed", scope["method"], scope["path"])
            if status[0] == 0:
                await problem_response(500, DETAIL_INTERNAL, instance=scope["path"])(scope, receive, send)
        finally:
            if self._metrics is not None:
                self._metrics.observe(route.service, scope["method"], status[0], time.perf_counter() - started)

    async def _proxy(
        self, state: EdgeState, route: Route, scope: Scope, receive: Receive, send: Send, status: list[int]
    ) -> None:
        settings = state.settings
        principal: Principal | None = None
        started = time.monotonic()
        try:
            path = scope["path"]
            if "/." in path and has_dot_segment(path):
                raise Refused(400, DETAIL_BAD_PATH)
            ip = client_ip(scope)
            method = scope["method"]
            kind = "read" if method not in WRITE_METHODS else ("signin" if route.signin else "write")
            await _limit(state, f"ip:{ip}:{kind}", getattr(settings, f"ip_{kind}_limit"))
            token = bearer_token(scope["headers"]) if route.audience is not None else None
            if token is not None and route.audience is not None:
                principal = await verify_bearer(state, token, route.audience)
                limit_kind = "read" if kind == "read" else "write"
                await _limit(state, f"sub:{principal.subject}:{limit_kind}", _principal_limit(settings, kind))
            if route.admin:
                if principal is None:
                    raise Refused(401, DETAIL_SIGN_IN, {"WWW-Authenticate": 'Bearer realm="gorod"'})
                if not principal.has_role("operator"):
                    raise Refused(403, DETAIL_OPERATOR)
            await self._forward(state, route, scope, receive, send, ip)
        except Refused as refusal:
            response = problem_response(
                refusal.status, refusal.detail, instance=scope["path"], headers=refusal.headers or None
            )
            await response(scope, receive, send)
        finally:
            if route.admin:
                state.audit.record(
                    principal=principal,
                    method=scope["method"],
                    path=scope["path"],
                    service=route.service,
                    status=status[0],
                    duration=time.monotonic() - started,
                )

    async def _forward(
        self,
        state: EdgeState,
        route: Route,
        scope: Scope,
        receive: Receive,
        send: Send,
        ip: str,
    ) -> None:
        settings = state.settings
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        named_by_connection: set[bytes] = set()
        for name, value in raw_headers:
            if name == b"connection":
                named_by_connection |= {token.strip().lower().encode() for token in value.decode("latin-1").split(",")}
        headers: list[tuple[bytes, bytes]] = []
        content_length: int | None = None
        content_type = b""
        has_body = False
        host = b""
        for name, value in raw_headers:
            if name == b"host":
                host = value
            if name == b"transfer-encoding":
                has_body = True
            if name in HOP_BY_HOP or name in named_by_connection or name in OWN_REQUEST_HEADERS:
                continue
            if name in IDENTITY_HEADERS:
                continue
            if name == b"content-length":
                try:
                    content_length = int(value)
                except ValueError:
                    raise Refused(400, "Неверный заголовок Content-Length.") from None
                has_body = content_length > 0
            elif name == b"content-type":
                content_type = value
            headers.append((name, value))
        limit = settings.max_upload_bytes if content_type.startswith(b"multipart/") else settings.max_body_bytes
        if content_length is not None and content_length > limit:
            raise Refused(413, DETAIL_TOO_LARGE.format(limit=limit))
        scheme = scope.get("scheme", "http")
        headers.append((b"x-forwarded-for", ip.encode("latin-1")))
        headers.append((b"x-forwarded-proto", scheme.encode()))
        if host:
            headers.append((b"x-forwarded-host", host))
        if request_id := correlation_id.get():
            headers.append((b"x-request-id", request_id.encode("latin-1")))
        headers.append((b"traceparent", new_traceparent(traceparent_var.get()).encode()))
        if not traceparent_var.get():  # a tracestate without its traceparent means nothing
            headers = [(name, value) for name, value in headers if name != b"tracestate"]

        target = scope.get("raw_path") or scope["path"].encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        too_large = [False]
        content = _body(receive, limit, too_large) if has_body else None
        try:
            async with state.upstream.request(
                scope["method"], state.origins[route.service], target, headers, content, content_length
            ) as upstream:
                await _relay_response(upstream, send)
        except BodyTooLarge:
            raise Refused(413, DETAIL_TOO_LARGE.format(limit=limit)) from None
        except ClientWentAway:  # nobody is left to read it; 499 is for the metrics and the audit log
            raise Refused(499, DETAIL_CLIENT_GONE) from None
        except UpstreamUnavailable:
            raise Refused(503, DETAIL_DOWN.format(service=route.service), {"Retry-After": "5"}) from None
        except UpstreamTimeout:
            if too_large[0]:
                raise Refused(413, DETAIL_TOO_LARGE.format(limit=limit)) from None
            raise Refused(504, DETAIL_SLOW.format(service=route.service)) from None
        except UpstreamError as error:
            if too_large[0]:
                raise Refused(413, DETAIL_TOO_LARGE.format(limit=limit)) from None
            log.warning("upstream %s failed: %s", route.service, error)
            raise Refused(502, DETAIL_BAD_UPSTREAM.format(service=route.service)) from None


async def _relay_response(upstream: Exchange, send: Send) -> None:
    named_by_connection: set[bytes] = set()
    for name, value in upstream.headers:
        if name == b"connection":
            named_by_connection |= {token.strip().lower() for token in value.split(b",") if token.strip()}
    headers = [
        (name, value)
        for name, value in upstream.headers
        if name not in HOP_BY_HOP and name not in named_by_connection and name not in OWN_RESPONSE_HEADERS
    ]
    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
    try:
        async for chunk in upstream.body():
            # A body already whole (the usual small answer) goes out with its end: one message less.
            done = upstream.at_eof
            await send({"type": "http.response.body", "body": chunk, "more_body": not done})
            if done:
                return
    except UpstreamError as error:  # the status line is gone: all we can do is cut it short
        log.warning("upstream body broke off: %s", error)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _body(receive: Receive, limit: int, too_large: list[bool]) -> AsyncIterator[bytes]:
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyTooLarge() if total > limit else ClientWentAway()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            too_large[0] = True
            raise BodyTooLarge()
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


def _principal_limit(settings: GatewaySettings, kind: str) -> int:
    return settings.principal_read_limit if kind == "read" else settings.principal_write_limit


async def _limit(state: EdgeState, key: str, limit: int) -> None:
    if state.limiter is None:
        return
    try:
        decision: Decision = await state.limiter.hit(key, limit, state.settings.rate_window)
    except (redis.RedisError, OSError) as error:  # fail open: a Redis outage must not take the platform down
        log.warning("rate limiter unavailable: %s", type(error).__name__)
        return
    if not decision.allowed:
        raise Refused(429, DETAIL_RATE.format(seconds=decision.retry_after), {"Retry-After": str(decision.retry_after)})


def _request_id(incoming: bytes | None) -> str:
    """The caller's request id when it is a UUID (32 hex digits), else a new one: what asgi-correlation-id's
    middleware does, which the gateway no longer runs."""
    if incoming:
        value = incoming.decode("latin-1")
        if is_valid_uuid4(value):
            return value
        request_id = uuid4().hex
        log.warning(FAILED_VALIDATION_MESSAGE, request_id)
        return request_id
    return uuid4().hex
