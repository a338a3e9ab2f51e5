"""The demo loader: maps, the category tree, Коломна's territories and ~30 problems; safe to run twice."""

from __future__ import annotations

import httpx
from sqlalchemy import text

from problems import demo
from problems.settings import ProblemsSettings
from servicekit.app import ServiceContext

from .conftest import check_contract


async def test_demo_loads_once(settings: ProblemsSettings, kit: ServiceContext, client: httpx.AsyncClient) -> None:
    lines = await demo.load(settings)
    again = await demo.load(settings)
    assert "30 demo problems" in lines[0]
    assert "(0 new)" in again[0]
    async with kit.engine.connect() as conn:
        demo_ids = [demo._id("demo-problem", str(i)) for i in range(len(demo.PROBLEMS))]
        rows = (
            await conn.execute(
                text("SELECT p.id, p.territory_ids, p.status FROM problems.problems p WHERE p.id = ANY(:ids)"),
                {"ids": demo_ids},
            )
        ).all()
        assert len(rows) == 30
        assert all(row.status == "published" and len(row.territory_ids) == 3 for row in rows)  # region, town, district
        published = (
            await conn.execute(
                text(
                    "SELECT body FROM problems.outbox WHERE routing_key = 'problems.problem.published.v1'"
                    " AND body->>'subject' = ANY(:ids)"
                ),
                {"ids": [str(i) for i in demo_ids]},
            )
        ).all()
    assert len(published) == 30  # once each, even after the second run
    for row in published[:5]:
        check_contract(row.body)
    one = (await client.get(f"/api/v1/problems/{demo_ids[0]}")).json()
    assert one["address"] == "ул. Октябрьской Революции, 212"
    assert one["category_name"] == "Яма на дороге"
