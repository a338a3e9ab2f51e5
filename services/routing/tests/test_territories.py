"""Territories: the import CLI (repair, reject by name, all-or-nothing), the public API, the admin API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from routing import demo, import_territories
from routing.settings import RoutingSettings
from servicekit.app import ServiceContext
from servicekit.testing.plugin import TestStack

from .conftest import outbox
from .helpers import auth


def _square(west: float, south: float, size: float) -> dict[str, Any]:
    e, n = west + size, south + size
    return {"type": "Polygon", "coordinates": [[[west, south], [e, south], [e, n], [west, n], [west, south]]]}


def _bowtie(west: float, south: float, size: float) -> dict[str, Any]:
    e, n = west + size, south + size  # self-intersecting: invalid, repairable
    return {"type": "Polygon", "coordinates": [[[west, south], [e, n], [e, south], [west, n], [west, south]]]}


def _feature(oktmo: str, name: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"oktmo": oktmo, "name": name, **props}, "geometry": geometry}


def _write(tmp_path: Path, features: list[dict[str, Any]]) -> Path:
    path = tmp_path / "boundaries.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False))
    return path


async def _count(kit: ServiceContext, prefix: str) -> int:
    async with kit.session_factory() as session:
        return int(
            (
                await session.execute(
                    text("SELECT count(*) FROM routing.territories WHERE oktmo LIKE :p"), {"p": prefix + "%"}
                )
            ).scalar_one()
        )


async def test_import_repairs_orders_parents_and_publishes(
    tmp_path: Path, kit: ServiceContext, routing_settings: RoutingSettings
) -> None:
    path = _write(
        tmp_path,
        [
            _feature("52701000", "город Тестовск", _bowtie(60.0, 50.0, 0.5), admin_level="6"),  # child first
            _feature("52000000", "Тестовская область", _square(59.0, 49.0, 3.0), admin_level="4"),
        ],
    )
    counts = await import_territories.run(path, repair=True, timezone="Asia/Yekaterinburg", settings=routing_settings)
    assert counts == {"imported": 2, "repaired": 1}
    async with kit.session_factory() as session:
        town = (
            await session.execute(
                text(
                    "SELECT t.*, p.oktmo AS parent_oktmo, ST_IsValid(t.boundary) AS valid FROM routing.territories t "
                    "JOIN routing.territories p ON p.id = t.parent_id WHERE t.oktmo = '52701000'"
                )
            )
        ).one()
    assert town.parent_oktmo == "52000000"
    assert town.valid
    assert town.depth == 1
    assert town.timezone == "Asia/Yekaterinburg"
    assert town.level == "municipal_district"
    [event] = await outbox(kit, "routing.territory.changed.v1", town.id)
    assert event["data"]["boundary"]["type"] == "MultiPolygon"


async def test_import_is_all_or_nothing_and_names_the_bad_feature(
    tmp_path: Path, kit: ServiceContext, routing_settings: RoutingSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    features = [
        _feature("53000000", "Первая область", _square(70.0, 50.0, 1.0), level="region"),
        _feature("53701000", "Кривой город", _bowtie(70.1, 50.1, 0.2), level="urban_okrug"),
    ]
    path = _write(tmp_path, features)
    with pytest.raises(import_territories.ImportRejected, match="Кривой город"):
        await import_territories.run(path, repair=False, timezone="Europe/Moscow", settings=routing_settings)
    assert await _count(kit, "53") == 0
    line = _feature(
        "53702000", "Линия", {"type": "LineString", "coordinates": [[70, 50], [71, 51]]}, level="settlement"
    )
    with pytest.raises(import_territories.ImportRejected, match="Линия"):
        import_territories.parse({"type": "FeatureCollection", "features": [*features, line]}, "Europe/Moscow")
    assert await _count(kit, "53") == 0


def test_oktmo_structure_gives_the_parent() -> None:
    assert import_territories.implied_parent("46738000101") == "46738000"
    assert import_territories.implied_parent("46738000") == "46000000"
    assert import_territories.implied_parent("46738101") == "46738000"
    assert import_territories.implied_parent("46000000") is None


async def test_public_territory_reads(client: httpx.AsyncClient) -> None:
    by_code = (await client.get("/api/v1/territories", params={"oktmo": "46738000"})).json()
    [town] = by_code["items"]
    assert town["id"] == str(demo.territory_id("46738000"))
    assert town["name"] == "городской округ Коломна"
    children = (await client.get("/api/v1/territories", params={"parent": town["id"], "limit": 2})).json()
    assert len(children["items"]) == 2
    assert children["next_cursor"]
    rest = (
        await client.get(
            "/api/v1/territories", params={"parent": town["id"], "limit": 2, "cursor": children["next_cursor"]}
        )
    ).json()
    names = {t["name"] for t in children["items"] + rest["items"]}
    assert names == {"Старая Коломна", "Колычёво", "Голутвин", "Щурово"}
    detail = (await client.get(f"/api/v1/territories/{town['id']}")).json()
    assert detail["boundary"]["type"] == "MultiPolygon"
    resolved = (await client.get("/api/v1/territories/resolve", params={"lon": 38.74, "lat": 55.06})).json()
    assert [t["oktmo"] for t in resolved] == ["46738000103", "46738000", "46000000"]
    assert (await client.get("/api/v1/territories/resolve", params={"lon": 200, "lat": 55})).status_code == 422
    assert (await client.get(f"/api/v1/territories/{uuid.uuid4()}")).status_code == 404
    assert (await client.get("/api/v1/territories", params={"oktmo": "abc"})).status_code == 422


async def test_admin_api_is_for_operators(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    body = {
        "name": "Управление образования",
        "kind": "department",
        "parent_id": str(demo.authority_id(demo.ADMINISTRATION)),
    }
    assert (await client.post("/admin/v1/routing/authorities", json=body)).status_code == 401
    official = auth(gorod_stack, uuid.uuid4(), "official")
    assert (await client.post("/admin/v1/routing/authorities", json=body, headers=official)).status_code == 403
    assert (await client.get("/admin/v1/routing/rules", headers=official)).status_code == 403
    operator = {**auth(gorod_stack, uuid.uuid4(), "operator"), "Idempotency-Key": f"a-{uuid.uuid4()}"}
    created = await client.post("/admin/v1/routing/authorities", json=body, headers=operator)
    replay = await client.post("/admin/v1/routing/authorities", json=body, headers=operator)
    assert created.status_code == replay.status_code == 201
    assert created.json() == replay.json()
    authority_id = created.json()["id"]
    [event] = await outbox(kit, "routing.authority.changed.v1", authority_id)
    assert event["data"]["kind"] == "department"

    no_email = await client.post(
        "/admin/v1/routing/authorities",
        json={**body, "channel": "email"},
        headers=auth(gorod_stack, uuid.uuid4(), "operator"),
    )
    assert no_email.status_code == 422
    assert no_email.json()["errors"][0]["field"] == "body.email"
    bad_zone = await client.post(
        "/admin/v1/routing/authorities",
        json={**body, "timezone": "Mars/Olympus"},
        headers=auth(gorod_stack, uuid.uuid4(), "operator"),
    )
    assert bad_zone.status_code == 422

    headers = auth(gorod_stack, uuid.uuid4(), "operator")
    rule = await client.post(
        "/admin/v1/routing/rules",
        json={
            "territory_id": str(demo.territory_id("46738000104")),
            "category_code": "yard.greenery",
            "authority_id": authority_id,
        },
        headers=headers,
    )
    assert rule.status_code == 201
    resolved = await client.get("/api/v1/territories/resolve", params={"lon": 38.80, "lat": 55.05})
    assert resolved.json()[0]["oktmo"] == "46738000104"
    not_supervisory = await client.post(
        "/admin/v1/routing/supervisors",
        json={"territory_id": str(demo.territory_id("46738000")), "supervisor_id": authority_id},
        headers=headers,
    )
    assert not_supervisory.status_code == 422
    rules = (
        await client.get(
            "/admin/v1/routing/rules", params={"territory_id": str(demo.territory_id("46738000104"))}, headers=headers
        )
    ).json()
    mine = [r for r in rules["items"] if r["id"] == rule.json()["id"]]
    assert [(r["category_code"], r["authority_id"]) for r in mine] == [("yard.greenery", authority_id)]
    assert all(r["territory_id"] == str(demo.territory_id("46738000104")) for r in rules["items"])
    assert (await client.delete(f"/admin/v1/routing/rules/{rule.json()['id']}", headers=headers)).status_code == 204
    assert (await client.delete(f"/admin/v1/routing/rules/{rule.json()['id']}", headers=headers)).status_code == 404


async def test_a_more_specific_rule_takes_over(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    from .helpers import open_appeal

    headers = auth(gorod_stack, uuid.uuid4(), "operator")
    district = demo.territory_id("46738000101")
    rule = await client.post(
        "/admin/v1/routing/rules",
        json={
            "territory_id": str(district),
            "category_code": "yard.greenery",
            "authority_id": str(demo.authority_id(demo.HOUSING)),
            "note": "озеленение исторического центра",
        },
        headers=headers,
    )
    try:
        inside = await open_appeal(kit, category_code="yard.greenery", lon=38.72, lat=55.11)  # Старая Коломна
        outside = await open_appeal(kit, category_code="yard.greenery", lon=38.82, lat=55.11)  # Колычёво
        assert inside.authority_id == demo.authority_id(demo.HOUSING)
        assert "озеленение исторического центра" in inside.reason
        assert outside.authority_id == demo.authority_id(demo.LANDSCAPING)
    finally:
        await client.delete(f"/admin/v1/routing/rules/{rule.json()['id']}", headers=headers)


async def test_territory_put_validates_geometry(client: httpx.AsyncClient, gorod_stack: TestStack) -> None:
    headers = auth(gorod_stack, uuid.uuid4(), "operator")
    territory_id = uuid.uuid4()
    body = {
        "oktmo": "54000000",
        "name": "Проверочная",
        "level": "region",
        "boundary": {"type": "Point", "coordinates": [1, 2]},
    }
    response = await client.put(f"/admin/v1/routing/territories/{territory_id}", json=body, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.boundary"
    body["boundary"] = _square(80, 50, 1)
    assert (
        await client.put(f"/admin/v1/routing/territories/{territory_id}", json=body, headers=headers)
    ).status_code == 200
    citizen = auth(gorod_stack, uuid.uuid4(), "citizen")
    assert (
        await client.put(f"/admin/v1/routing/territories/{territory_id}", json=body, headers=citizen)
    ).status_code == 403
