"""The demo data ``make up`` loads: run twice, archived once, and the town's dashboard is not empty."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics import demo
from analytics.domain.synthetic import TOWN_OKTMO, territory_id
from analytics.settings import AnalyticsSettings

pytestmark = pytest.mark.integration


async def test_loading_twice_archives_once_and_fills_the_dashboard(
    clean: AsyncEngine, settings: AnalyticsSettings, client: httpx.AsyncClient
) -> None:
    first = await demo.load(settings)
    async with clean.connect() as conn:
        archived = (await conn.execute(text("SELECT count(*) FROM archive"))).scalar()
    second = await demo.load(settings)
    async with clean.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM archive"))).scalar() == archived
    assert archived is not None
    assert archived > 1000
    assert first[0] == f"analytics: {archived} demo events archived"
    assert second[0] == "analytics: demo events already there"
    body = (await client.get(f"/api/v1/analytics/territories/{territory_id(TOWN_OKTMO)}/dashboard")).json()
    assert body["reported"] > 200
    assert len(body["children"]) == 4
    assert all(child["reported"] > 0 for child in body["children"])
    rating = (await client.get(f"/api/v1/analytics/territories/{territory_id(TOWN_OKTMO)}/rating")).json()
    assert [item["rank"] for item in rating["items"]] == [1, 2, 3]
