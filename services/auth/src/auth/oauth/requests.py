"""Authlib's request classes over our :class:`~auth.oauth.http.HttpRequest` snapshot (the Starlette half of the
adapter; Authlib ships Flask and Django ones only). Each request also carries the use case's
:class:`~auth.oauth.server.Context`, so grants and extensions reach what was pre-loaded for them."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import JsonPayload, JsonRequest, OAuth2Payload, OAuth2Request

from auth.oauth.http import HttpRequest

if TYPE_CHECKING:
    from auth.oauth.context import Context


class SnapshotPayload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, http: HttpRequest) -> None:
        self._data = http.values()
        self._datalist = http.value_lists()

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class SnapshotOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """``OAuth2Request`` for Authlib's grants and endpoints (the constructor refuses a non-HTTPS, non-loopback
    URL with ``insecure_transport``)."""

    def __init__(self, http: HttpRequest, ctx: Context) -> None:
        super().__init__(method=http.method, uri=http.url, headers=http.headers)
        self.payload = SnapshotPayload(http)
        self.http = http
        self.ctx = ctx
        self._args = _first_values(http.query)
        self._form = _first_values(http.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class SnapshotJsonPayload(JsonPayload):  # type: ignore[misc]
    def __init__(self, http: HttpRequest) -> None:
        self._data = http.json_body

    @property
    def data(self) -> Any:
        return self._data


class SnapshotJsonRequest(JsonRequest):  # type: ignore[misc]
    def __init__(self, http: HttpRequest, ctx: Context) -> None:
        super().__init__(http.method, http.url, http.headers)
        self.payload = SnapshotJsonPayload(http)
        self.ctx = ctx


def _first_values(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key, value)
    return values
