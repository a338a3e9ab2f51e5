"""Every service on disk: its migrations, its database role's reach, its app and its OpenAPI contract."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import asyncpg
import httpx
import pytest

from servicekit import provision
from servicekit.testing.plugin import TestStack

ROOT = Path(__file__).resolve().parents[1]
SERVICES = provision.discover_services(ROOT)
KIT_TABLES = {"outbox", "inbox", "idempotency_keys", "alembic_version"}


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_create_the_service_schema_and_its_kit_tables(gorod_stack: TestStack, service: str) -> None:
    conn = await asyncpg.connect(_dsn(gorod_stack.databases[service].url))
    try:
        tables = {
            row["tablename"]
            for row in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = $1", service)
        }
        owner = await conn.fetchval("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = $1", service)
        triggers = await conn.fetchval(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND t.tgname = 'outbox_notify'",
            service,
        )
    finally:
        await conn.close()
    assert tables >= KIT_TABLES
    assert owner == gorod_stack.databases[service].role
    assert triggers == 1


@pytest.mark.parametrize("service", SERVICES)
async def test_a_service_role_cannot_reach_another_service_schema(gorod_stack: TestStack, service: str) -> None:
    other = next(name for name in SERVICES if name != service)
    conn = await asyncpg.connect(_dsn(gorod_stack.databases[service].url))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch(f'SELECT * FROM "{other}".outbox')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f'CREATE TABLE "{other}".intruder (id int)')
        # PostGIS is there for everyone, in public.
        assert await conn.fetchval("SELECT ST_AsText(ST_MakePoint(37.6, 55.75))") == "POINT(37.6 55.75)"
    finally:
        await conn.close()


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_app_is_ready_against_real_database_and_broker(gorod_stack: TestStack, service: str) -> None:
    app = importlib.import_module(f"{service}.main").create_app()
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        live = await client.get("/health/live")
        ready = await client.get("/health/ready")
        metrics = await client.get("/metrics")
    assert live.status_code == 200
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}
    assert metrics.status_code == 200
    assert "http_request" in metrics.text


@pytest.mark.parametrize("name", ["gateway", *SERVICES])
def test_openapi_contract_is_current(name: str) -> None:
    app = importlib.import_module(f"{name}.main").create_app()
    contract = ROOT / "contracts" / "openapi" / f"{name}.json"
    assert contract.exists(), f"{contract.relative_to(ROOT)} is missing: run `make openapi`"
    assert json.loads(contract.read_text()) == json.loads(json.dumps(app.openapi())), (
        f"the {name} API changed: run `make openapi` and commit contracts/openapi/{name}.json"
    )
