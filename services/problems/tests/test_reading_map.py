# ruff: noqa: F811  (pytest fixtures imported from test_reading_fixtures are parameters here)
"""The problem map over HTTP against the real database: clusters at low zoom (from the trigger-kept cells and,
with a period or territory filter, computed live), problems at high zoom, filters, visibility, validation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text

from problems.api.deps import read_connection
from problems.domain import clusters
from problems.usecases import map_cells

from .test_reading_fixtures import Seed, reading_app, reading_client, reading_kit, reading_settings, seed  # noqa: F401

pytestmark = pytest.mark.integration

KOLOMNA = (38.77, 55.10)
TULA = (37.62, 54.19)
RUSSIA = "19.0,41.0,180.0,82.0"


async def _map(client: httpx.AsyncClient, seed: Seed, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/problems/map", params={"map": seed.map_code, **params})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/geo+json")
    body: dict[str, Any] = response.json()
    assert body["type"] == "FeatureCollection"
    return body


def _counts(body: dict[str, Any]) -> int:
    assert body["clustered"] is True
    return sum(f["properties"]["count"] for f in body["features"])


async def test_country_zoom_clusters_count_public_problems_only(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.problems(
        *[{"lon": KOLOMNA[0] + i * 0.001, "lat": KOLOMNA[1]} for i in range(5)],
        *[{"lon": TULA[0], "lat": TULA[1] + i * 0.001, "category": "light"} for i in range(3)],
        {"lon": TULA[0], "lat": TULA[1], "status": "moderation"},
        {"lon": TULA[0], "lat": TULA[1], "status": "rejected"},
        {"lon": TULA[0], "lat": TULA[1], "category": "secret"},
    )
    body = await _map(reading_client, seed, bbox=RUSSIA, zoom=4)
    assert _counts(body) == 8
    assert body["total"] == 8
    for feature in body["features"]:
        assert feature["type"] == "Feature"
        assert feature["geometry"]["type"] == "Point"
        assert feature["properties"] == {"cluster": True, "count": feature["properties"]["count"]}
        west, south, east, north = feature["bbox"]
        lon, lat = feature["geometry"]["coordinates"]
        assert west <= lon <= east
        assert south <= lat <= north
        # The id names the grid cell, and the bbox is that cell.
        cell_x, cell_y = clusters.cell_of(lon, lat, level=4)
        assert feature["id"] == f"cell:4:{cell_x}:{cell_y}"
        assert [west, south] == pytest.approx(
            [cell_x * clusters.cell_size(4) - 180, cell_y * clusters.cell_size(4) - 90]
        )
        assert east - west == pytest.approx(clusters.cell_size(4))
    # At zoom 8 the two towns (≈ 1.2° apart) are separate clusters at their own centroids.
    body = await _map(reading_client, seed, bbox="36,53,40,57", zoom=8)
    by_count = {f["properties"]["count"]: f["geometry"]["coordinates"] for f in body["features"]}
    assert list(by_count) == [3, 5]  # cells south to north: Tula, then Kolomna
    assert body["total"] == 8
    assert by_count[5] == pytest.approx([KOLOMNA[0] + 0.002, KOLOMNA[1]], abs=1e-6)
    assert by_count[3] == pytest.approx([TULA[0], TULA[1] + 0.001], abs=1e-6)


async def test_cells_follow_status_changes_moves_and_deletes(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    first, second, _third = await seed.problems(
        {"lon": KOLOMNA[0], "lat": KOLOMNA[1]},
        {"lon": KOLOMNA[0], "lat": KOLOMNA[1]},
        {"lon": KOLOMNA[0], "lat": KOLOMNA[1], "status": "moderation"},
    )
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=3)) == 2
    await seed.execute(
        "UPDATE problems.problems SET status = 'published' WHERE status = 'moderation' AND map_id = :m",
        {"m": seed.map_id},
    )
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=3)) == 3
    await seed.execute("UPDATE problems.problems SET status = 'withdrawn' WHERE id = :id", {"id": first})
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=3)) == 2
    # Status changes among public ones keep the count; the status filter sees them move.
    await seed.execute("UPDATE problems.problems SET status = 'in_work' WHERE id = :id", {"id": second})
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=3, status="in_work")) == 1
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=3, status="published,in_work")) == 2
    # A move to Tula leaves Kolomna's cell at zoom 10.
    await seed.execute(
        "UPDATE problems.problems SET point = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) WHERE id = :id",
        {"id": second, "lon": TULA[0], "lat": TULA[1]},
    )
    near_kolomna = "38.6,55.0,38.9,55.2"
    assert _counts(await _map(reading_client, seed, bbox=near_kolomna, zoom=10)) == 1
    await seed.execute("DELETE FROM problems.problems WHERE map_id = :m", {"m": seed.map_id})
    assert (await _map(reading_client, seed, bbox=RUSSIA, zoom=3))["features"] == []
    assert await map_cells.fold(seed.kit.session_factory) > 0
    async with seed.kit.session_factory() as session:
        left = await session.execute(
            text("SELECT count(*) FROM problems.map_cells WHERE map_id = :m AND (n <> 0 OR abs(sum_lon) > 1e-6)"),
            {"m": seed.map_id},
        )
        assert left.scalar_one() == 0


CELLS_NOW = """
    SELECT level, cell_x, cell_y, category_id, status, n, round(sum_lon::numeric, 6), round(sum_lat::numeric, 6)
      FROM (SELECT level, cell_x, cell_y, category_id, status, sum(n) AS n, sum(sum_lon) AS sum_lon,
                   sum(sum_lat) AS sum_lat
              FROM (SELECT * FROM problems.map_cells UNION ALL SELECT * FROM problems.map_cell_deltas) c
             WHERE map_id = :m GROUP BY 1, 2, 3, 4, 5) s
     WHERE n <> 0
"""
CELLS_FROM_PROBLEMS = """
    SELECT l.level, floor((ST_X(p.point) + 180.0) / (360.0 / 2 ^ (l.level + 2)))::int,
           floor((ST_Y(p.point) + 90.0) / (360.0 / 2 ^ (l.level + 2)))::int, p.category_id, p.status, count(*),
           round(sum(ST_X(p.point))::numeric, 6), round(sum(ST_Y(p.point))::numeric, 6)
      FROM problems.problems p CROSS JOIN unnest(CAST(:levels AS int[])) AS l(level)
     WHERE p.map_id = :m AND NOT p.private
       AND p.status IN ('published', 'sent', 'registered', 'in_work', 'answered', 'solved', 'not_solved', 'forwarded')
     GROUP BY 1, 2, 3, 4, 5
"""


async def test_reports_append_deltas_that_the_fold_moves_without_changing_the_map(
    reading_client: httpx.AsyncClient, seed: Seed
) -> None:
    """Intake does not update the shared cells: it appends deltas; the map reads cells + deltas, so folding them
    (the worker) changes no answer, and afterwards the cells alone equal a recount from the problems."""
    ids = await seed.problems(
        *[{"lon": KOLOMNA[0] + i * 0.01, "lat": KOLOMNA[1]} for i in range(4)],
        {"lon": TULA[0], "lat": TULA[1], "category": "light"},
        {"lon": TULA[0], "lat": TULA[1], "category": "secret"},
    )
    await seed.execute("UPDATE problems.problems SET status = 'in_work' WHERE id = :id", {"id": ids[0]})
    await seed.execute("DELETE FROM problems.problems WHERE id = :id", {"id": ids[1]})
    params = {"m": seed.map_id, "levels": list(clusters.CELL_LEVELS)}
    async with seed.kit.session_factory() as session:
        pending = await session.execute(
            text("SELECT count(*) FROM problems.map_cell_deltas WHERE map_id = :m"), {"m": seed.map_id}
        )
        assert pending.scalar_one() > 0
        expected = set((await session.execute(text(CELLS_FROM_PROBLEMS), params)).all())
        assert set((await session.execute(text(CELLS_NOW), params)).all()) == expected
    views = [(RUSSIA, 3), (RUSSIA, 5), ("38.6,54.0,39.0,55.3", 10), ("37.5,54.1,37.7,54.3", 12)]
    before = [await _map(reading_client, seed, bbox=bbox, zoom=zoom) for bbox, zoom in views]
    assert _counts(before[0]) == 4

    assert await map_cells.fold(seed.kit.session_factory) > 0

    after = [await _map(reading_client, seed, bbox=bbox, zoom=zoom) for bbox, zoom in views]
    assert after == before
    async with seed.kit.session_factory() as session:
        left = await session.execute(text("SELECT count(*) FROM problems.map_cell_deltas"))
        assert left.scalar_one() == 0
        folded = set(
            (await session.execute(text(CELLS_NOW.replace("map_cell_deltas", "map_cells WHERE false")), params)).all()
        )
        assert folded == expected
    assert await map_cells.fold(seed.kit.session_factory) == 0


async def test_category_filter_includes_subcategories(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.problems({"category": "roads"}, {"category": "pits"}, {"category": "pits"}, {"category": "light"})
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=5, category=seed.codes["roads"])) == 3
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=5, category=seed.codes["pits"])) == 2
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=5, category=seed.codes["light"])) == 1


async def test_period_and_territory_filters_cluster_live(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    territory = uuid.uuid4()
    old = datetime.now(UTC) - timedelta(days=40)
    await seed.problems(
        {"reported_at": old, "territory_ids": [str(territory)]},
        {"territory_ids": [str(territory)]},
        {},
        {"status": "moderation", "territory_ids": [str(territory)]},
    )
    since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=5, **{"from": since})) == 2
    assert _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=5, territory=str(territory))) == 2
    assert (
        _counts(await _map(reading_client, seed, bbox=RUSSIA, zoom=5, territory=str(territory), **{"from": since})) == 1
    )
    # The live path and the cell table agree on the same data.
    live = await _map(reading_client, seed, bbox=RUSSIA, zoom=6, **{"from": "2000-01-01T00:00:00Z"})
    cells = await _map(reading_client, seed, bbox=RUSSIA, zoom=6)
    assert [f["properties"]["count"] for f in live["features"]] == [f["properties"]["count"] for f in cells["features"]]
    assert live["features"][0]["geometry"] == cells["features"][0]["geometry"]


async def test_city_zoom_returns_problems_capped_at_500(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    ids = await seed.problems(
        *[{"lon": KOLOMNA[0] + (i % 30) * 0.0005, "lat": KOLOMNA[1] + (i // 30) * 0.0005} for i in range(501)],
        {"lon": KOLOMNA[0], "lat": KOLOMNA[1], "category": "secret"},
        {"lon": KOLOMNA[0], "lat": KOLOMNA[1], "status": "moderation"},
    )
    bbox = "38.75,55.09,38.80,55.13"
    body = await _map(reading_client, seed, bbox=bbox, zoom=15)
    assert body["clustered"] is False
    assert len(body["features"]) == clusters.MAX_FEATURES
    assert body["truncated"] is True
    # The 500 nearest the view's centre (38.775, 55.11): the farthest, column 29 of row 0, is left out.
    missing = {str(i) for i in ids[:501]} - {f["id"] for f in body["features"]}
    assert missing == {str(ids[29])}, [ids.index(uuid.UUID(m)) for m in missing]
    nearest = body["features"][0]
    assert nearest["id"] == str(ids[16 * 30 + 10])  # (38.775, 55.108)
    assert nearest["geometry"] == {"type": "Point", "coordinates": [38.775, 55.108]}
    assert nearest["properties"]["cluster"] is False
    assert nearest["properties"]["status_name"] == "Опубликована"
    assert nearest["properties"]["category_code"] == seed.codes["roads"]
    # A smaller view is complete and not truncated.
    small = await _map(reading_client, seed, bbox="38.7695,55.0995,38.7705,55.1005", zoom=18)
    assert small["truncated"] is False
    assert {f["id"] for f in small["features"]} == {str(ids[0]), str(ids[1]), str(ids[30]), str(ids[31])}


async def test_city_zoom_filters(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    """Features by category (with subcategories), status, period and territory: the usual filters run one
    prepared statement whatever their values, the rarer ones (period, territory) a statement of their own."""
    territory = uuid.uuid4()
    old = datetime.now(UTC) - timedelta(days=40)
    lon, lat = KOLOMNA
    pit, light, old_road, _moderated = await seed.problems(
        {"lon": lon, "lat": lat, "category": "pits", "territory_ids": [str(territory)]},
        {"lon": lon + 0.001, "lat": lat, "category": "light", "status": "in_work"},
        {"lon": lon + 0.002, "lat": lat, "reported_at": old, "territory_ids": [str(territory)]},
        {"lon": lon + 0.003, "lat": lat, "status": "moderation", "territory_ids": [str(territory)]},
    )
    bbox = "38.76,55.09,38.78,55.11"

    async def found(**params: Any) -> set[str]:
        body = await _map(reading_client, seed, bbox=bbox, zoom=15, **params)
        assert body["clustered"] is False
        assert body["truncated"] is False
        return {feature["id"] for feature in body["features"]}

    assert await found() == {str(pit), str(light), str(old_road)}
    assert await found(category=seed.codes["roads"]) == {str(pit), str(old_road)}
    assert await found(category=seed.codes["pits"]) == {str(pit)}
    assert await found(status="in_work") == {str(light)}
    assert await found(status="published,in_work", category=seed.codes["light"]) == {str(light)}
    assert await found(status="moderation") == set()  # never on the map, whatever the filter
    since = (datetime.now(UTC) - timedelta(days=7)).isoformat()
    assert await found(**{"from": since}) == {str(pit), str(light)}
    assert await found(territory=str(territory)) == {str(pit), str(old_road)}
    assert await found(territory=str(territory), **{"from": since}) == {str(pit)}
    # The same statement again with other values (a prepared statement's parameters, not its text).
    assert await found(category=seed.codes["light"]) == {str(light)}


async def test_antimeridian_bbox(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    await seed.problems({"lon": 177.5, "lat": 64.7}, {"lon": -179.5, "lat": 65.0}, {"lon": 170.0, "lat": 69.0})
    body = await _map(reading_client, seed, bbox="175,60,-175,70", zoom=5)
    assert _counts(body) == 2
    features = await _map(reading_client, seed, bbox="175,60,-175,70", zoom=13)
    assert len(features["features"]) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"bbox": "1,2,3", "zoom": 5}, "query.bbox"),
        ({"bbox": "a,b,c,d", "zoom": 5}, "query.bbox"),
        ({"bbox": "30,60,40,50", "zoom": 5}, "query.bbox"),
        ({"bbox": "30,50,200,60", "zoom": 5}, "query.bbox"),
        ({"bbox": "30,50,40,60", "zoom": 30}, "query.zoom"),
        ({"bbox": "30,50,40,60"}, "query.zoom"),
        ({"bbox": "30,50,40,60", "zoom": 5, "status": "lost"}, "query.status"),
        ({"bbox": "30,50,40,60", "zoom": 5, "category": "no-such-category"}, "query.category"),
        ({"bbox": "30,50,40,60", "zoom": 5, "territory": "not-a-uuid"}, "query.territory"),
    ],
)
async def test_bad_map_requests_get_russian_problem_json(
    reading_client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await reading_client.get("/api/v1/problems/map", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert [e["field"] for e in body["errors"]] == [field]
    assert any("а" <= ch <= "я" for ch in body["detail"].lower())


async def test_unknown_map_code_is_422(reading_client: httpx.AsyncClient) -> None:
    response = await reading_client.get("/api/v1/problems/map", params={"bbox": RUSSIA, "zoom": 3, "map": "nope"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "query.map"


def test_grid_levels_and_cells() -> None:
    assert clusters.level_for_zoom(0) == 2
    assert clusters.level_for_zoom(5) == 4
    assert clusters.level_for_zoom(12) == 12
    assert clusters.cell_size(2) == 22.5
    assert clusters.cell_of(-180.0, -90.0, 4) == (0, 0)
    assert clusters.cell_of(38.77, 55.10, 12) == (
        int((38.77 + 180) // clusters.cell_size(12)),
        int((55.10 + 90) // clusters.cell_size(12)),
    )
    box = clusters.parse_bbox("170,60,-170,70")
    assert box.crosses_antimeridian
    assert box.center == (180.0, 65.0)
    assert clusters.parse_bbox("172,60,-178,70").center == (177.0, 65.0)
    assert clusters.parse_bbox("176,60,-170,70").center == (-177.0, 65.0)
    assert [r.x0 for r in clusters.cell_ranges(box, 2)] == [15, 0]
    with pytest.raises(clusters.BBoxError):
        clusters.parse_bbox("30,50,30,60")
    with pytest.raises(clusters.BBoxError):
        clusters.parse_bbox("nan,50,40,60")
    assert clusters.parse_point(" 38.7, 55.1 ") == (38.7, 55.1)
    with pytest.raises(clusters.BBoxError):
        clusters.parse_point("38.7,95")


async def test_the_map_reads_in_autocommit(reading_app: FastAPI) -> None:
    """No BEGIN and ROLLBACK round trips around the map's query: each statement is its own transaction."""
    async with read_connection(Request({"type": "http", "app": reading_app, "headers": []})) as connection:
        first = (await connection.execute(text("SELECT txid_current()"))).scalar_one()
        second = (await connection.execute(text("SELECT txid_current()"))).scalar_one()
    assert first != second
