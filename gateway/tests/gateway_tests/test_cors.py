"""CORS: only the origins registered in auth, refreshed while running, never ``*`` with credentials."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI

from .conftest import ORIGINS

WIDGET = ORIGINS[0]


def _preflight(gateway: str, origin: str, path: str = "/api/v1/problems") -> httpx.Response:
    return httpx.options(
        f"{gateway}{path}",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type, Idempotency-Key, X-Evil",
        },
    )


def test_a_registered_origin_passes_the_preflight(gateway: str, upstream: tuple[str, FastAPI]) -> None:
    hits = upstream[1].state.hits
    response = _preflight(gateway, WIDGET)

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == WIDGET
    assert response.headers["access-control-allow-credentials"] == "true"
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed = {h.strip() for h in response.headers["access-control-allow-headers"].split(",")}
    assert allowed == {"authorization", "content-type", "idempotency-key"}
    assert "Origin" in response.headers["vary"]
    assert upstream[1].state.hits == hits  # answered by the gateway


def test_an_unknown_origin_gets_no_cors_headers(gateway: str) -> None:
    preflight = _preflight(gateway, "https://evil.example.org")
    actual = httpx.get(f"{gateway}/api/v1/problems", headers={"Origin": "https://evil.example.org"})

    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert actual.status_code == 200
    assert "access-control-allow-origin" not in actual.headers
    assert "Origin" in actual.headers["vary"]


def test_answers_and_errors_carry_the_origin_never_a_star(gateway: str) -> None:
    ok = httpx.get(f"{gateway}/api/v1/problems", headers={"Origin": WIDGET})
    refused = httpx.get(f"{gateway}/api/v1/problems", headers={"Origin": WIDGET, "Authorization": "Bearer bad"})
    down = httpx.get(f"{gateway}/api/v1/territories", headers={"Origin": WIDGET})

    for response in (ok, refused, down):
        assert response.headers["access-control-allow-origin"] == WIDGET
        assert response.headers["access-control-allow-credentials"] == "true"
        assert "X-Request-ID" in response.headers["access-control-expose-headers"]
    assert (ok.status_code, refused.status_code, down.status_code) == (200, 401, 503)


def test_a_newly_registered_origin_works_without_a_restart(gateway: str, upstream: tuple[str, FastAPI]) -> None:
    app = upstream[1]
    new_site = "https://new-district.example.org"
    assert _preflight(gateway, new_site).status_code == 403
    app.state.origins = [*ORIGINS, new_site]
    try:
        deadline = time.monotonic() + 5
        while _preflight(gateway, new_site).status_code != 204:
            assert time.monotonic() < deadline, "the new origin was not picked up"
            time.sleep(0.1)
    finally:
        app.state.origins = list(ORIGINS)
    deadline = time.monotonic() + 5
    while _preflight(gateway, new_site).status_code != 403:  # and a removed one stops working
        assert time.monotonic() < deadline, "the removed origin was not dropped"
        time.sleep(0.1)
