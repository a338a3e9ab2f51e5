"""Fixtures shared by the reading and subscription tests: the real app on the test stack, a client, and a
seeder writing maps, categories and problems straight into the test database (the reporting use case is
another part's; these tests are about reading what is there). Imported by ``test_reading*.py`` and
``test_subscriptions*.py``; holds no tests itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from problems.main import create_app
from problems.settings import ProblemsSettings
from servicekit.app import ServiceContext
from servicekit.testing.plugin import TestStack

BASE_URL = "http://127.0.0.1:8000"


@pytest.fixture(scope="session")
def reading_settings(gorod_stack: TestStack) -> ProblemsSettings:
    return ProblemsSettings()


@pytest.fixture(scope="session")
async def reading_app(reading_settings: ProblemsSettings) -> AsyncIterator[FastAPI]:
    app = create_app(reading_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def reading_kit(reading_app: FastAPI) -> ServiceContext:
    context: ServiceContext = reading_app.state.kit
    return context


@pytest.fixture
async def reading_client(reading_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=reading_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@dataclass
class Seed:
    """One isolated world per test: its own map (unique code) and categories, so counts are exact."""

    kit: ServiceContext
    map_id: uuid.UUID = field(default_factory=uuid.uuid4)
    map_code: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")
    categories: dict[str, uuid.UUID] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)

    async def setup(self) -> Seed:
        async with self.kit.session_factory() as session, session.begin():
            await session.execute(
                text("INSERT INTO problems.maps (id, code, name) VALUES (:id, :code, 'Тестовая карта')"),
                {"id": self.map_id, "code": self.map_code},
            )
        await self.category("roads", "Дороги")
        await self.category("pits", "Ямы на дороге", parent="roads")
        await self.category("light", "Освещение")
        await self.category("secret", "Жалоба на чиновника", private=True)
        return self

    async def category(self, key: str, name: str, *, parent: str | None = None, private: bool = False) -> None:
        category_id = uuid.uuid4()
        code = f"{self.map_code}-{key}"
        async with self.kit.session_factory() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO problems.categories (id, map_id, code, parent_id, name, private)"
                    " VALUES (:id, :map_id, :code, :parent_id, :name, :private)"
                ),
                {
                    "id": category_id,
                    "map_id": self.map_id,
                    "code": code,
                    "parent_id": self.categories[parent] if parent else None,
                    "name": name,
                    "private": private,
                },
            )
        self.categories[key] = category_id
        self.codes[key] = code

    async def problems(self, *rows: dict[str, Any]) -> list[uuid.UUID]:
        """Insert problems; each row may give lon, lat, category (key), status, title, description, address,
        author_id, reported_at, supports_count, territory_ids, anonymous, display_name."""
        now = datetime.now(UTC)
        values = []
        for i, row in enumerate(rows):
            category = row.get("category", "roads")
            values.append(
                {
                    "id": row.get("id", uuid.uuid4()),
                    "map_id": self.map_id,
                    "category_id": self.categories[category],
                    "status": row.get("status", "published"),
                    "private": category == "secret",
                    "lon": row.get("lon", 38.77),
                    "lat": row.get("lat", 55.10),
                    "address": row.get("address", "Коломна, ул. Октябрьской Революции, 1"),
                    "title": row.get("title", f"Проблема {i}"),
                    "description": row.get("description", ""),
                    "author_id": row.get("author_id"),
                    "anonymous": row.get("anonymous", False),
                    "reported_at": row.get("reported_at", now - timedelta(seconds=len(rows) - i)),
                    "supports_count": row.get("supports_count", 0),
                    "territory_ids": row.get("territory_ids", []),
                }
            )
        async with self.kit.session_factory() as session, session.begin():
            await session.execute(
                text(
                    "INSERT INTO problems.problems (id, map_id, category_id, status, private, point, address, title,"
                    " description, author_id, anonymous, reported_at, supports_count, territory_ids)"
                    " VALUES (:id, :map_id, :category_id, :status, :private,"
                    " ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), :address, :title, :description, :author_id,"
                    " :anonymous, :reported_at, :supports_count, CAST(:territory_ids AS uuid[]))"
                ),
                values,
            )
            for row, value in zip(rows, values, strict=True):
                if row.get("display_name"):
                    await session.execute(
                        text(
                            "INSERT INTO problems.applicants (problem_id, user_id, display_name)"
                            " VALUES (:id, :user_id, :name)"
                        ),
                        {"id": value["id"], "user_id": value["author_id"], "name": row["display_name"]},
                    )
        return [v["id"] for v in values]

    async def execute(self, sql: str, params: dict[str, Any] | None = None) -> None:
        async with self.kit.session_factory() as session, session.begin():
            await session.execute(text(sql), params or {})


@pytest.fixture
async def seed(reading_kit: ServiceContext) -> Seed:
    return await Seed(reading_kit).setup()
