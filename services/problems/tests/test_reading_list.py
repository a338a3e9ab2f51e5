# ruff: noqa: F811  (pytest fixtures imported from test_reading_fixtures are parameters here)
"""The problem lists over HTTP against the real database: visibility, filters, Russian full-text search,
near me, mine, sorting and cursor pagination."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from servicekit.testing.plugin import TestStack

from .test_reading_fixtures import Seed, reading_app, reading_client, reading_kit, reading_settings, seed  # noqa: F401

pytestmark = pytest.mark.integration

URL = "/api/v1/problems"


async def _list(client: httpx.AsyncClient, seed: Seed, headers: dict[str, str] | None = None, **params: Any) -> Any:
    response = await client.get(URL, params={"map": seed.map_code, **params}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


async def _all_ids(client: httpx.AsyncClient, seed: Seed, **params: Any) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = await _list(client, seed, **params, **({"cursor": cursor} if cursor else {}))
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_anyone_sees_public_problems_newest_first(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    author = uuid.uuid4()
    ids = await seed.problems(
        {"title": "Старая яма", "author_id": author, "display_name": "Иван П."},
        {"title": "Анонимная", "author_id": author, "anonymous": True, "display_name": "Иван П."},
        {"title": "На модерации", "status": "moderation", "author_id": author},
        {"title": "Секретная", "category": "secret", "author_id": author},
        {"title": "Отозвана", "status": "withdrawn", "author_id": author},
    )
    page = await _list(reading_client, seed)
    assert [item["id"] for item in page["items"]] == [str(ids[1]), str(ids[0])]
    first = page["items"][1]
    assert first["title"] == "Старая яма"
    assert first["author"] == {"display_name": "Иван П."}
    assert page["items"][0]["author"] is None  # anonymous
    assert first["status_name"] == "Опубликована"
    assert first["category_code"] == seed.codes["roads"]
    assert first["map_code"] == seed.map_code
    assert first["point"] == {"lon": pytest.approx(38.77), "lat": pytest.approx(55.10)}
    assert first["photos"] == []


async def test_author_and_moderators_see_more(
    reading_client: httpx.AsyncClient, seed: Seed, gorod_stack: TestStack
) -> None:
    author = uuid.uuid4()
    ids = await seed.problems(
        {"title": "Публичная"},
        {"title": "На модерации", "status": "moderation", "author_id": author},
        {"title": "Секретная", "category": "secret", "author_id": author},
        {"title": "Чужая на модерации", "status": "moderation", "author_id": uuid.uuid4()},
    )
    as_author = gorod_stack.tokens.bearer("problems", subject=author)
    seen = {item["id"] for item in (await _list(reading_client, seed, headers=as_author))["items"]}
    assert seen == {str(ids[0]), str(ids[1]), str(ids[2])}
    as_stranger = gorod_stack.tokens.bearer("problems", subject=uuid.uuid4())
    seen = {item["id"] for item in (await _list(reading_client, seed, headers=as_stranger))["items"]}
    assert seen == {str(ids[0])}
    as_moderator = gorod_stack.tokens.bearer("problems", subject=uuid.uuid4(), roles=["moderator"])
    seen = {item["id"] for item in (await _list(reading_client, seed, headers=as_moderator))["items"]}
    assert seen == {str(i) for i in ids}
    mine = await _list(reading_client, seed, headers=as_author, mine="true")
    assert {item["id"] for item in mine["items"]} == {str(ids[1]), str(ids[2])}
    mine_moderation = await _list(reading_client, seed, headers=as_author, mine="true", status="moderation")
    assert [item["id"] for item in mine_moderation["items"]] == [str(ids[1])]


async def test_mine_needs_a_valid_token(reading_client: httpx.AsyncClient, seed: Seed, gorod_stack: TestStack) -> None:
    response = await reading_client.get(URL, params={"mine": "true"})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "Bearer" in response.headers["www-authenticate"]
    response = await reading_client.get(URL, headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401
    wrong_audience = gorod_stack.tokens.bearer("routing", subject=uuid.uuid4())
    response = await reading_client.get(URL, params={"mine": "true"}, headers=wrong_audience)
    assert response.status_code == 401
    partner = gorod_stack.tokens.bearer("problems", subject="partner-client", roles=[], scopes=["problems:write"])
    response = await reading_client.get(URL, params={"mine": "true"}, headers=partner)
    assert response.status_code == 403


async def test_russian_full_text_search(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    ids = await seed.problems(
        {"title": "Глубокая яма во дворе", "description": "Машины проваливаются колёсами"},
        {"title": "Не горят фонари", "description": "На улице темно, фонарь разбит", "category": "light"},
        {"title": "Мусор", "address": "Коломна, Ямская улица, 5"},
    )
    found = await _list(reading_client, seed, q="ямы")
    assert [item["id"] for item in found["items"]] == [str(ids[0])]
    found = await _list(reading_client, seed, q="фонарей")
    assert [item["id"] for item in found["items"]] == [str(ids[1])]
    found = await _list(reading_client, seed, q='"ямская улица"')
    assert [item["id"] for item in found["items"]] == [str(ids[2])]
    found = await _list(reading_client, seed, q="фонари -разбит")
    assert found["items"] == []
    found = await _list(reading_client, seed, q="яма OR мусор")
    assert {item["id"] for item in found["items"]} == {str(ids[0]), str(ids[2])}


async def test_near_me_sorted_by_distance_within_radius(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    here = (38.7700, 55.1000)
    ids = await seed.problems(
        {"lon": here[0] + 0.010, "lat": here[1]},  # ≈ 640 m east
        {"lon": here[0], "lat": here[1] + 0.002},  # ≈ 220 m north
        {"lon": here[0] + 0.030, "lat": here[1]},  # ≈ 1.9 km
        {"lon": here[0] - 0.004, "lat": here[1]},  # ≈ 255 m west
    )
    page = await _list(reading_client, seed, near=f"{here[0]},{here[1]}", radius_m=1000, limit=2)
    assert [item["id"] for item in page["items"]] == [str(ids[1]), str(ids[3])]
    assert page["items"][0]["distance_m"] == pytest.approx(222.6, abs=2)
    assert page["next_cursor"]
    rest = await _list(
        reading_client, seed, near=f"{here[0]},{here[1]}", radius_m=1000, limit=2, cursor=page["next_cursor"]
    )
    assert [item["id"] for item in rest["items"]] == [str(ids[0])]
    assert rest["next_cursor"] is None
    wide = await _all_ids(reading_client, seed, near=f"{here[0]},{here[1]}", radius_m=5000, limit=1)
    assert wide == [str(ids[1]), str(ids[3]), str(ids[0]), str(ids[2])]


async def test_filters_sorting_and_pagination(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    territory = uuid.uuid4()
    base = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        {
            "title": f"П{i}",
            "reported_at": base + timedelta(hours=i // 2),  # pairs share a time: the id breaks the tie
            "supports_count": (i * 7) % 5,
            "category": "pits" if i % 3 == 0 else "light",
            "status": "in_work" if i % 4 == 0 else "published",
            "territory_ids": [str(territory)] if i % 2 == 0 else [],
            "lon": 38.7 + i * 0.01,
        }
        for i in range(25)
    ]
    ids = [str(i) for i in await seed.problems(*rows)]
    by_new = sorted(range(25), key=lambda i: (rows[i]["reported_at"], ids[i]), reverse=True)
    assert await _all_ids(reading_client, seed, limit=4) == [ids[i] for i in by_new]
    assert await _all_ids(reading_client, seed, limit=7, sort="old") == [ids[i] for i in reversed(by_new)]
    by_supports = sorted(range(25), key=lambda i: (rows[i]["supports_count"], ids[i]), reverse=True)
    assert await _all_ids(reading_client, seed, limit=6, sort="supports") == [ids[i] for i in by_supports]
    pits = await _all_ids(reading_client, seed, limit=100, category=seed.codes["roads"])
    assert sorted(pits) == sorted(ids[i] for i in range(25) if i % 3 == 0)
    in_work = await _all_ids(reading_client, seed, limit=100, status="in_work")
    assert sorted(in_work) == sorted(ids[i] for i in range(25) if i % 4 == 0)
    inside = await _all_ids(reading_client, seed, limit=100, territory=str(territory))
    assert sorted(inside) == sorted(ids[i] for i in range(25) if i % 2 == 0)
    period = await _all_ids(
        reading_client,
        seed,
        limit=100,
        **{"from": (base + timedelta(hours=3)).isoformat(), "to": (base + timedelta(hours=5)).isoformat()},
    )
    assert sorted(period) == sorted(ids[i] for i in range(25) if 3 <= i // 2 < 5)
    boxed = await _all_ids(reading_client, seed, limit=100, bbox="38.745,55,38.795,55.2")
    assert sorted(boxed) == sorted(ids[i] for i in range(5, 10))


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"cursor": "!!!"}, 400, "query.cursor"),
        ({"cursor": "WyJ4IiwieSJd", "sort": "supports"}, 400, "query.cursor"),
        ({"sort": "distance"}, 422, "query.sort"),
        ({"near": "38.7"}, 422, "query.near"),
        ({"near": "38.7,55.1", "radius_m": 100000}, 422, "query.radius_m"),
        ({"bbox": "1,2,3,4,5"}, 422, "query.bbox"),
        ({"sort": "random"}, 422, "query.sort"),
        ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, 422, "query.from"),
        ({"category": "nothing-like-this"}, 422, "query.category"),
    ],
)
async def test_bad_list_requests(
    reading_client: httpx.AsyncClient, params: dict[str, Any], status: int, field: str
) -> None:
    response = await reading_client.get(URL, params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_limit_is_capped(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.problems(*[{} for _ in range(105)])
    page = await _list(reading_client, seed, limit=1000)
    assert len(page["items"]) == 100
    assert page["next_cursor"]
