"""Calls the Open311 adapter makes: the problems API, routing's territories, and auth's token endpoint.

A partner's ``api_key`` stands for an OAuth client (``GATEWAY_OPEN311_KEYS``: key → client id); the gateway
gets a client-credentials access token for that client from auth (``GATEWAY_OPEN311_CLIENT_SECRETS``) and
reports with it, so problems sees the partner itself, with the scopes auth granted it. Tokens are cached per
client until shortly before they expire.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from gateway.open311.render import Open311Error
from gateway.settings import GatewaySettings

REFRESH_MARGIN = 30.0

DOWN = "Сервис временно недоступен. Попробуйте позже."
SLOW = "Сервис не ответил вовремя. Попробуйте позже."


class Upstream:
    def __init__(self, settings: GatewaySettings, client: httpx.AsyncClient) -> None:
        self.settings = settings
        self.client = client
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        *,
        token: str | None = None,
        params: Any = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        url = getattr(self.settings, f"{service}_url") + path
        try:
            return await self.client.request(method, url, params=params, json=json, headers=sent)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout):
            raise Open311Error(503, DOWN) from None
        except httpx.TimeoutException:
            raise Open311Error(504, SLOW) from None
        except httpx.HTTPError:
            raise Open311Error(502, DOWN) from None

    async def get_json(self, service: str, path: str, *, token: str | None = None, params: Any = None) -> Any:
        response = await self.call("GET", service, path, token=token, params=params)
        if response.status_code == 404:
            raise Open311Error(404, "Не найдено.")
        if response.status_code >= 500:
            raise Open311Error(503, DOWN)
        if response.status_code >= 400:
            raise Open311Error(400, _problem_text(response))
        return response.json()

    async def partner_token(self, api_key: str) -> str:
        """A client-credentials access token for the partner this key belongs to; 403 for an unknown key."""
        client_id = self.settings.open311_keys.get(api_key)
        secret = self.settings.open311_client_secrets.get(client_id or "")
        if client_id is None or secret is None:
            raise Open311Error(403, "Ключ api_key недействителен.")
        cached = self._tokens.get(client_id)
        if cached is not None and cached[1] - REFRESH_MARGIN > time.monotonic():
            return cached[0]
        async with self._lock:
            cached = self._tokens.get(client_id)
            if cached is not None and cached[1] - REFRESH_MARGIN > time.monotonic():
                return cached[0]
            try:
                response = await self.client.post(
                    self.settings.auth_url + "/oauth2/token",
                    data={"grant_type": "client_credentials"},
                    auth=(client_id, secret),
                )
            except httpx.HTTPError:
                raise Open311Error(503, DOWN) from None
            if response.status_code in (400, 401):
                raise Open311Error(403, "Ключ api_key недействителен: партнёр отключён или неверно настроен.")
            if response.status_code != 200:
                raise Open311Error(503, DOWN)
            body = response.json()
            token = str(body["access_token"])
            self._tokens[client_id] = (token, time.monotonic() + float(body.get("expires_in", 300)))
            return token


def _problem_text(response: httpx.Response) -> str:
    """A problem document's Russian detail and per-field messages, as one line."""
    try:
        problem = response.json()
    except ValueError:
        return "Запрос отклонён."
    if not isinstance(problem, dict):
        return "Запрос отклонён."
    parts = [str(problem.get("detail") or "Запрос отклонён.")]
    for error in problem.get("errors", []) or []:
        if isinstance(error, dict):
            parts.append(f"{error.get('field')}: {error.get('message')}")
    return " ".join(parts)


problem_text = _problem_text
