"""Maps and categories: public reading (anyone) and the operators' admin API (role operator only)."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import text

from problems.usecases import catalog_cache
from servicekit.app import ServiceContext

from .conftest import Tokens, report_body


async def test_public_maps_and_categories(client: httpx.AsyncClient) -> None:
    maps = (await client.get("/api/v1/problems/maps")).json()["items"]
    by_code = {m["code"]: m for m in maps}
    assert by_code["city"]["name"] == "Городские проблемы"
    assert not by_code["city"]["volunteers_only"]
    assert by_code["volunteering"]["volunteers_only"]

    page = await client.get("/api/v1/problems/categories", params={"map": "city", "limit": 5})
    assert page.status_code == 200
    first = page.json()
    assert len(first["items"]) == 5
    assert first["next_cursor"]
    codes = [c["code"] for c in first["items"]]
    rest = await client.get("/api/v1/problems/categories", params={"map": "city", "cursor": first["next_cursor"]})
    codes += [c["code"] for c in rest.json()["items"]]
    assert len(codes) == len(set(codes))
    assert "volunteer.help" not in codes
    assert {"roads.pothole", "lighting.street", "ecology.water"} <= set(codes)

    pothole = (await client.get("/api/v1/problems/categories/roads.pothole")).json()
    assert pothole["parent_code"] == "roads"
    assert pothole["map_code"] == "city"
    depth = next(a for a in pothole["attributes"] if a["code"] == "depth_cm")
    assert depth["datatype"] == "number"
    assert depth["description"] == "Глубина ямы, см"
    light = (await client.get("/api/v1/problems/categories/lighting.street")).json()
    kind = next(a for a in light["attributes"] if a["code"] == "lighting_type")
    assert kind["datatype"] == "singlevaluelist"
    assert {v["key"] for v in kind["values"]} == {"pole", "facade", "park"}
    assert (await client.get("/api/v1/problems/categories/no.such")).status_code == 404


async def test_admin_requires_operator(client: httpx.AsyncClient, auth: Tokens) -> None:
    body = {"code": f"m{uuid.uuid4().hex[:8]}", "name": "Тест"}
    assert (await client.post("/admin/v1/problems/maps", json=body)).status_code == 401
    for role in ("citizen", "moderator", "official"):
        response = await client.post("/admin/v1/problems/maps", json=body, headers=auth(role))
        assert response.status_code == 403, role
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/admin/v1/problems/categories", headers=auth("citizen"))).status_code == 403
    assert (await client.delete("/admin/v1/problems/categories/roads", headers=auth("moderator"))).status_code == 403


async def test_admin_crud(client: httpx.AsyncClient, auth: Tokens) -> None:
    operator = auth("operator")
    code = f"m{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/admin/v1/problems/maps", json={"code": code, "name": "Карта двора", "premoderation": True}, headers=operator
    )
    assert created.status_code == 201
    assert created.json()["premoderation"] is True
    again = await client.post("/admin/v1/problems/maps", json={"code": code, "name": "x"}, headers=operator)
    assert again.status_code == 409

    category = {
        "code": f"{code}.bench",
        "map": code,
        "name": "Сломана скамейка",
        "anonymous_allowed": True,
        "duplicate_radius_m": 80,
        "attributes": [
            {
                "code": "material",
                "datatype": "singlevaluelist",
                "description": "Материал",
                "values": [{"key": "wood", "name": "Дерево"}, {"key": "metal", "name": "Металл"}],
            }
        ],
    }
    response = await client.post("/admin/v1/problems/categories", json=category, headers=operator)
    assert response.status_code == 201, response.text
    assert response.json()["duplicate_radius_m"] == 80

    patched = await client.patch(
        f"/admin/v1/problems/categories/{code}.bench", json={"name": "Скамейка", "private": True}, headers=operator
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Скамейка"
    assert patched.json()["private"]

    # the map is in use: cannot be deleted; the unused category is deleted outright
    assert (await client.delete(f"/admin/v1/problems/maps/{code}", headers=operator)).status_code == 409
    deleted = await client.delete(f"/admin/v1/problems/categories/{code}.bench", headers=operator)
    assert deleted.json() == {"deleted": True}
    assert (await client.get(f"/api/v1/problems/categories/{code}.bench")).status_code == 404
    assert (await client.delete(f"/admin/v1/problems/maps/{code}", headers=operator)).status_code == 204


async def test_admin_validation_in_russian(client: httpx.AsyncClient, auth: Tokens) -> None:
    operator = auth("operator")
    bad = {
        "code": f"c{uuid.uuid4().hex[:8]}",
        "map": "no-such-map",
        "name": "Категория",
        "attributes": [
            {"code": "kind", "datatype": "singlevaluelist", "description": "Вид"},
            {"code": "kind", "datatype": "number", "description": "Ещё", "values": [{"key": "a", "name": "А"}]},
        ],
    }
    response = await client.post("/admin/v1/problems/categories", json=bad, headers=operator)
    assert response.status_code == 422
    fields = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert fields["body.map"] == "Нет такой карты."
    assert "body.attributes.0.values" in fields
    assert "body.attributes.1.code" in fields
    assert "body.attributes.1.values" in fields

    shape = await client.post(
        "/admin/v1/problems/categories",
        json={"code": "BAD CODE", "map": "city", "name": "", "duplicate_radius_m": 1},
        headers=operator,
    )
    assert shape.status_code == 422
    assert {"body.code", "body.name", "body.duplicate_radius_m"} <= {e["field"] for e in shape.json()["errors"]}


async def test_territory_premoderation_switch(client: httpx.AsyncClient, auth: Tokens) -> None:
    territory = uuid.uuid5(uuid.NAMESPACE_URL, "gorod:territory:46738000104")
    path = f"/admin/v1/problems/territories/{territory}"
    assert (await client.patch(path, json={"premoderation": True}, headers=auth("citizen"))).status_code == 403
    response = await client.patch(path, json={"premoderation": False}, headers=auth("operator"))
    assert response.status_code == 200
    assert response.json()["name"] == "Щурово"
    missing = await client.patch(
        f"/admin/v1/problems/territories/{uuid.uuid4()}", json={"premoderation": True}, headers=auth("operator")
    )
    assert missing.status_code == 404


async def test_intake_sees_a_category_edit_at_once(client: httpx.AsyncClient, auth: Tokens) -> None:
    """Reports read maps and categories from a per-process cache; an operator's edit through the API clears it."""
    operator = auth("operator")
    code = f"c{uuid.uuid4().hex[:8]}"
    created = await client.post(
        "/admin/v1/problems/categories",
        json={"code": code, "map": "city", "name": "Сломана скамейка", "anonymous_allowed": True},
        headers=operator,
    )
    assert created.status_code == 201, created.text
    body = report_body(category=code, extra={}, anonymous=True, applicant=None)
    first = await client.post("/api/v1/problems", json=body, headers=auth("citizen"))
    assert first.status_code == 201, first.text  # the category is now cached

    patched = await client.patch(
        f"/admin/v1/problems/categories/{code}", json={"anonymous_allowed": False}, headers=operator
    )
    assert patched.status_code == 200, patched.text
    refused = await client.post(
        "/api/v1/problems", json=report_body(category=code, extra={}, anonymous=True), headers=auth("citizen")
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["body.anonymous"]

    assert (await client.delete(f"/admin/v1/problems/categories/{code}", headers=operator)).status_code == 200
    gone = await client.post("/api/v1/problems", json=report_body(category=code, extra={}), headers=auth("citizen"))
    assert gone.status_code == 422
    assert [e["field"] for e in gone.json()["errors"]] == ["body.category"]


async def test_catalog_cache_serves_hits_for_ttl_and_never_remembers_misses(kit: ServiceContext) -> None:
    code = f"c{uuid.uuid4().hex[:8]}"
    async with kit.session_factory() as session:
        assert await catalog_cache.category_by_code(session, code, ttl=60) is None
        city = await catalog_cache.map_by_code(session, "city", ttl=60)
        await session.execute(
            text("INSERT INTO problems.categories (id, map_id, code, name) VALUES (:id, :m, :code, 'Первое имя')"),
            {"id": uuid.uuid4(), "m": city.id, "code": code},
        )
        await session.commit()
        assert (await catalog_cache.category_by_code(session, code, ttl=60)).name == "Первое имя"  # a miss: no memory
        # another process (here: bare SQL) renames it: this process serves its copy until the ttl is over
        await session.execute(text("UPDATE problems.categories SET name = 'Второе' WHERE code = :c"), {"c": code})
        await session.commit()
        assert (await catalog_cache.category_by_code(session, code, ttl=60)).name == "Первое имя"
        assert (await catalog_cache.category_by_code(session, code, ttl=0)).name == "Второе"
        await session.execute(text("UPDATE problems.categories SET name = 'Третье' WHERE code = :c"), {"c": code})
        await session.commit()
        catalog_cache.invalidate()
        assert (await catalog_cache.category_by_code(session, code, ttl=60)).name == "Третье"
        await session.execute(text("DELETE FROM problems.categories WHERE code = :c"), {"c": code})
        await session.commit()
        catalog_cache.invalidate()
        assert await catalog_cache.category_by_code(session, code, ttl=60) is None
