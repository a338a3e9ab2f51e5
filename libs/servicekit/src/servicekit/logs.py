"""JSON logs that carry the request id and W3C ``traceparent`` of whatever is being handled.

The request id is asgi-correlation-id's context variable (set by its middleware for HTTP, by the
consumer for events); ``traceparent`` has its own. Both travel to the outbox as message headers, so one
request can be followed across services. Log records carry ids, never personal data: callers log ids only.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar

from asgi_correlation_id import correlation_id
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Receive, Scope, Send

traceparent_var: ContextVar[str | None] = ContextVar("traceparent", default=None)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
REQUEST_ID_HEADER = "x-request-id"
TRACEPARENT_HEADER = "traceparent"


def valid_traceparent(value: str | None) -> str | None:
    return value if value and _TRACEPARENT.match(value) else None


def current_trace_headers() -> dict[str, str]:
    """The headers that continue the current trace in an event or an outgoing request."""
    headers: dict[str, str] = {}
    if request_id := correlation_id.get():
        headers[REQUEST_ID_HEADER] = request_id
    if traceparent := traceparent_var.get():
        headers[TRACEPARENT_HEADER] = traceparent
    return headers


class TraceparentMiddleware:
    """Keeps an incoming, well-formed ``traceparent`` in a context variable for logs and events."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = dict(scope["headers"]).get(TRACEPARENT_HEADER.encode())
        token = traceparent_var.set(valid_traceparent(raw.decode("latin-1")) if raw else None)
        try:
            await self.app(scope, receive, send)
        finally:
            traceparent_var.reset(token)


class _ContextFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        record.request_id = correlation_id.get()
        record.traceparent = traceparent_var.get()
        return True


def configure_logging(service: str, *, level: str = "INFO", json: bool = True) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_ContextFilter(service))
    if json:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(service)s %(request_id)s %(traceparent)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(service)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log repeats the path with its query string, which may carry personal data.
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request with its full URL at INFO: too chatty, and URLs may carry personal data.
    logging.getLogger("httpx").setLevel(logging.WARNING)
