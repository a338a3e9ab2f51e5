"""Every cabinet and admin endpoint refuses a caller without a token (401) and one without the role (403)."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from fastapi.routing import APIRoute

from routing.api import admin, cabinet
from servicekit.testing.plugin import TestStack

from .helpers import auth

ROUTES = [
    (method, route.path)
    for router in (cabinet.router, admin.router)
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in sorted(route.methods)
]


def _url(path: str) -> str:
    return re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_others_are_refused(client: httpx.AsyncClient, gorod_stack: TestStack, method: str, path: str) -> None:
    assert (await client.request(method, _url(path))).status_code == 401
    wrong_role = "official" if path.startswith("/admin/") else "citizen"
    response = await client.request(method, _url(path), headers=auth(gorod_stack, uuid.uuid4(), wrong_role), json={})
    assert response.status_code == 403, response.text
