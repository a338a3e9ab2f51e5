"""The HTTP side of the adapter: a Starlette request read once, asynchronously, into a plain snapshot that the
synchronous Authlib can read without I/O, and Authlib's ``(status, body, headers)`` answers as a plain
response that the handler turns back into a Starlette one.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

MAX_BODY_BYTES = 64 * 1024
"""OAuth requests are small; a larger body is refused before it is parsed."""

MAX_FIELDS = 64

FORM = "application/x-www-form-urlencoded"


class MalformedRequest(Exception):
    """The body is too large or not a readable form; the endpoint answers ``invalid_request``."""


@dataclass(frozen=True)
class HttpRequest:
    """Everything Authlib may read of one request, read before Authlib runs."""

    method: str
    url: str
    """The public URL (the issuer's scheme and host, this request's path and query): what Authlib checks for
    HTTPS and what the client addressed."""
    path_qs: str
    """The path and query as received, for ``/signin?next=…``."""
    headers: Headers
    query: tuple[tuple[str, str], ...] = ()
    form: tuple[tuple[str, str], ...] = ()
    json_body: Any = None

    @property
    def params(self) -> tuple[tuple[str, str], ...]:
        """The OAuth parameters: the query string of a GET, the form body of a POST (never both, so that
        secrets sent in a body cannot be overridden by a URL)."""
        return self.query if self.method in ("GET", "HEAD") else self.form

    def param(self, name: str) -> str | None:
        return next((value for key, value in self.params if key == name), None)

    def form_value(self, name: str) -> str | None:
        return next((value for key, value in self.form if key == name), None)

    def values(self) -> dict[str, str]:
        """Parameter → its first value (what ``request.payload.data`` shows Authlib)."""
        data: dict[str, str] = {}
        for key, value in self.params:
            data.setdefault(key, value)
        return data

    def value_lists(self) -> defaultdict[str, list[str]]:
        """Parameter → all its values (Authlib refuses repeated parameters with it)."""
        data: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in self.params:
            data[key].append(value)
        return data


async def read_request(request: Request, *, issuer: str) -> HttpRequest:
    """Snapshot ``request``; raises :class:`MalformedRequest` for an oversized or unreadable body."""
    body = b""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
            raise MalformedRequest("body too large")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise MalformedRequest("body too large")
            chunks.append(chunk)
        body = b"".join(chunks)
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    form: tuple[tuple[str, str], ...] = ()
    json_body: Any = None
    try:
        if body and content_type == FORM:
            form = tuple(
                parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS)
            )
        elif body and content_type == "application/json":
            json_body = json.loads(body)
    except (UnicodeDecodeError, ValueError) as error:
        raise MalformedRequest("unreadable body") from error
    query = tuple(request.query_params.multi_items())
    if len(query) > MAX_FIELDS:
        raise MalformedRequest("too many parameters")
    path_qs = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HttpRequest(
        method=request.method,
        url=issuer.rstrip("/") + path_qs,
        path_qs=path_qs,
        headers=request.headers,
        query=query,
        form=form,
        json_body=json_body,
    )


@dataclass
class OAuthResponse:
    """Authlib's answer, kept plain until the use case has persisted what it decided."""

    status: int
    body: Any = ""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((value for key, value in self.headers if key.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        # RFC 9207's ``iss`` is added this way by Authlib's IssuerParameter extension.
        self.headers = [(key, v) for key, v in self.headers if key.lower() != "location"] + [("Location", value)]

    @property
    def ok(self) -> bool:
        return self.status < 400

    def header(self, name: str) -> str | None:
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)


def to_starlette(response: OAuthResponse, *, extra_headers: dict[str, str] | None = None) -> Response:
    headers = {key: value for key, value in response.headers if key.lower() not in ("location", "content-type")}
    headers.update(extra_headers or {})
    if response.location is not None:
        return RedirectResponse(response.location, status_code=response.status, headers=headers)
    if isinstance(response.body, dict | list):
        return JSONResponse(response.body, status_code=response.status, headers=headers)
    content_type = response.header("content-type") or "text/plain; charset=utf-8"
    return Response(response.body or b"", status_code=response.status, headers=headers, media_type=content_type)
