"""The merged OpenAPI documents: the public API (``/api/v1/openapi.json``, interactive at ``/docs``) and the
operators' admin API (``/admin/v1/openapi.json``, operators only, interactive at ``/admin/docs``).

Each service's ``/openapi.json`` is fetched concurrently and the paths the gateway routes to that service are
kept (a service cannot claim another's prefix). Component names get the service's name as a prefix
(``problems.Category``) and every ``$ref`` is rewritten, so two services' ``Page`` never clash; operation ids
get the same prefix. A service that does not answer is left out and named in ``x-gorod-missing``. The merged
document is cached for ``CACHE_SECONDS``.
"""

from __future__ import annotations

import asyncio
import copy
import time
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from gateway.proxy import EdgeState, Refused, bearer_token, verify_bearer
from gateway.routes import RouteTable
from servicekit.http.problems import ProblemError
from servicekit.security import Principal

router = APIRouter(tags=["docs"])

CACHE_SECONDS = 60.0
PUBLIC = "/api/v1"
ADMIN = "/admin/v1"
COMPONENT_KINDS = ("schemas", "responses", "parameters", "examples", "requestBodies", "headers", "securitySchemes")


def _rename_refs(node: Any, service: str) -> Any:
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/"):
                _, _, kind, name = value.split("/", 3)
                result[key] = f"#/components/{kind}/{service}.{name}"
            else:
                result[key] = _rename_refs(value, service)
        return result
    if isinstance(node, list):
        return [_rename_refs(item, service) for item in node]
    return node


def merge(documents: dict[str, dict[str, Any]], routes: RouteTable, area: str, title: str) -> dict[str, Any]:
    """One OpenAPI 3.1 document of the ``area`` (``/api/v1`` or ``/admin/v1``) paths of every service."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1",
            "description": "Собрано шлюзом из описаний сервисов Города. Ошибки — RFC 9457 (application/problem+json).",
        },
        "paths": {},
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{}, {"bearer": []}],
    }
    for service, document in sorted(documents.items()):
        document = _rename_refs(copy.deepcopy(document), service)
        for path, item in document.get("paths", {}).items():
            route = routes.match(path)
            if not (path == area or path.startswith(area + "/")) or route is None or route.service != service:
                continue
            for operation in item.values():
                if isinstance(operation, dict) and "operationId" in operation:
                    operation["operationId"] = f"{service}.{operation['operationId']}"
                if isinstance(operation, dict):
                    operation.setdefault("tags", [service])
            merged["paths"][path] = item
        for kind in COMPONENT_KINDS:
            for name, component in document.get("components", {}).get(kind, {}).items():
                merged["components"].setdefault(kind, {})[f"{service}.{name}"] = component
    return merged


async def _fetch(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    try:
        response = await client.get(f"{url}/openapi.json", timeout=5.0)
        if response.status_code != 200:
            return None
        document = response.json()
    except (httpx.HTTPError, ValueError):
        return None
    return document if isinstance(document, dict) else None


_cache: dict[str, tuple[float, dict[str, Any]]] = {}


async def merged_document(state: EdgeState, area: str, title: str) -> dict[str, Any]:
    cached = _cache.get(area)
    if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1]
    urls = state.settings.service_urls()
    fetched = await asyncio.gather(*(_fetch(state.client, url) for url in urls.values()))
    documents = {name: doc for name, doc in zip(urls, fetched, strict=True) if doc is not None}
    merged = merge(documents, state.routes, area, title)
    missing = sorted(set(urls) - set(documents))
    if missing:
        merged["x-gorod-missing"] = missing
    else:
        _cache[area] = (time.monotonic(), merged)
    return merged


def _edge(request: Request) -> EdgeState:
    state: EdgeState | None = request.app.state.edge
    if state is None:
        raise ProblemError(503, "Шлюз запускается. Попробуйте позже.")
    return state


async def operator(request: Request) -> Principal:
    """Dependency: an operator's bearer token for the audience ``gateway``; 401/403 otherwise."""
    token = bearer_token(request.scope["headers"])
    if token is None:
        raise ProblemError(401, "Нужно войти в систему.", headers={"WWW-Authenticate": 'Bearer realm="gorod"'})
    try:
        principal = await verify_bearer(_edge(request), token, "gateway")
    except Refused as refusal:
        raise ProblemError(refusal.status, refusal.detail, headers=refusal.headers) from None
    if not principal.has_role("operator"):
        raise ProblemError(403, "Это действие доступно только операторам.")
    return principal


@router.get("/api/v1/openapi.json", include_in_schema=False)
async def public_openapi(request: Request) -> JSONResponse:
    """The merged OpenAPI document of the public API. Anyone may call."""
    return JSONResponse(await merged_document(_edge(request), PUBLIC, "Город — публичный API"))


@router.get("/admin/v1/openapi.json", include_in_schema=False)
async def admin_openapi(request: Request, _: Annotated[Principal, Depends(operator)]) -> JSONResponse:
    """The merged OpenAPI document of the operators' admin API. Operators only (bearer, audience ``gateway``)."""
    return JSONResponse(await merged_document(_edge(request), ADMIN, "Город — API операторов"))


@router.get("/docs", include_in_schema=False)
async def public_docs() -> HTMLResponse:
    """Interactive documentation of the public API. Anyone may call."""
    return get_swagger_ui_html(openapi_url="/api/v1/openapi.json", title="Город — публичный API")


@router.get("/admin/docs", include_in_schema=False)
async def admin_docs() -> HTMLResponse:
    """Interactive documentation of the admin API (the page is public; its document needs an operator token)."""
    return get_swagger_ui_html(openapi_url="/admin/v1/openapi.json", title="Город — API операторов")
