"""Who may call what, endpoint by endpoint: no token → 401, a token without the right → 403 (or 404 where the
existence of a hidden problem must not leak)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from .conftest import Report, Tokens

AUTHOR_ONLY = [
    ("PATCH", "", {"title": "Правка автора"}),
    ("POST", "/withdraw", {}),
    ("POST", "/anonymise", None),
    ("POST", "/confirm", None),
    ("POST", "/dispute", {"reason": "Не решено"}),
    ("POST", "/rating", {"rating": 3}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), AUTHOR_ONLY)
async def test_author_only_endpoints(
    client: httpx.AsyncClient, report: Report, auth: Tokens, method: str, suffix: str, body: object
) -> None:
    problem, _ = await report()
    path = f"/api/v1/problems/{problem['id']}{suffix}"
    assert (await client.request(method, path, json=body)).status_code == 401
    for headers in (auth("citizen"), auth("moderator"), auth("operator")):
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["detail"] == "Это может сделать только автор сообщения."


async def test_signed_in_endpoints(client: httpx.AsyncClient, report: Report, auth: Tokens) -> None:
    problem, _ = await report()
    comment = (
        await client.post(f"/api/v1/problems/{problem['id']}/comments", json={"body": "Да"}, headers=auth("citizen"))
    ).json()
    calls = [
        ("POST", "/api/v1/problems", {}),
        ("POST", f"/api/v1/problems/{problem['id']}/supports", None),
        ("DELETE", f"/api/v1/problems/{problem['id']}/supports", None),
        ("POST", f"/api/v1/problems/{problem['id']}/comments", {"body": "x"}),
        ("PATCH", f"/api/v1/problems/comments/{comment['id']}", {"body": "x"}),
        ("POST", f"/api/v1/problems/comments/{comment['id']}/flags", {}),
    ]
    for method, path, body in calls:
        response = await client.request(method, path, json=body)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"].startswith("Bearer")
    forged = {"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"}
    assert (await client.post(f"/api/v1/problems/{problem['id']}/supports", headers=forged)).status_code == 401


async def test_hidden_problems_do_not_leak(client: httpx.AsyncClient, report: Report, auth: Tokens) -> None:
    waiting, author = await report(
        headers=auth("citizen", "volunteer"), map="volunteering", category="volunteer.help", extra={}
    )
    for suffix in ("", "/comments"):
        assert (await client.get(f"/api/v1/problems/{waiting['id']}{suffix}")).status_code == 404
        assert (
            await client.get(f"/api/v1/problems/{waiting['id']}{suffix}", headers=auth("citizen"))
        ).status_code == 404
        assert (await client.get(f"/api/v1/problems/{waiting['id']}{suffix}", headers=author)).status_code == 200
    support = await client.post(f"/api/v1/problems/{waiting['id']}/supports", headers=auth("citizen"))
    assert support.status_code == 404
    unknown = await client.post(
        f"/api/v1/problems/{uuid.uuid4()}/comments", json={"body": "x"}, headers=auth("citizen")
    )
    assert unknown.status_code == 404
