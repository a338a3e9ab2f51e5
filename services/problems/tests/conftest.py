"""Fixtures of the problems service's tests: the real app on the test stack with the demo catalog,
a client, tokens, and helpers to read the outbox and check payloads against the event contracts."""

from __future__ import annotations

import io
import json
import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import text

from problems import demo
from problems.main import create_app
from problems.settings import ProblemsSettings
from servicekit.app import ServiceContext
from servicekit.testing.plugin import TestStack

BASE_URL = "http://127.0.0.1:8000"
CONTRACTS = Path(__file__).resolve().parents[3] / "contracts" / "events"


@pytest.fixture(scope="session")
def settings(gorod_stack: TestStack, tmp_path_factory: pytest.TempPathFactory) -> ProblemsSettings:
    return ProblemsSettings(photo_dir=tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="session")
async def app(settings: ProblemsSettings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        kit: ServiceContext = application.state.kit
        async with kit.unit_of_work() as uow:
            await demo.load_catalog(uow)
            await demo.load_territories(uow)
            await uow.commit()
        yield application


@pytest.fixture
def kit(app: FastAPI) -> ServiceContext:
    context: ServiceContext = app.state.kit
    return context


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http:
        yield http


class Tokens:
    def __init__(self, stack: TestStack) -> None:
        self.stack = stack

    def __call__(
        self, *roles: str, subject: uuid.UUID | str | None = None, scopes: tuple[str, ...] = ()
    ) -> dict[str, str]:
        return self.stack.tokens.bearer(
            "problems", subject=subject or uuid.uuid4(), roles=list(roles), scopes=list(scopes)
        )


@pytest.fixture(scope="session")
def auth(gorod_stack: TestStack) -> Tokens:
    """``auth("citizen")`` → an Authorization header of a fresh user; ``subject=`` for a known one."""
    return Tokens(gorod_stack)


def somewhere() -> dict[str, float]:
    """A random point in Russia, far from other tests' problems (duplicates are searched by distance)."""
    return {"lon": round(random.uniform(45.0, 130.0), 6), "lat": round(random.uniform(52.0, 66.0), 6)}


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "map": "city",
        "category": "roads.pothole",
        "point": somewhere(),
        "address": "ул. Октябрьской Революции, 212",
        "title": "Глубокая яма у перекрёстка",
        "description": "Машины объезжают по встречной полосе.",
        "extra": {"depth_cm": 12, "lane": "road"},
        "applicant": {"full_name": "Анна Жителева", "email": "anna@example.org"},
    }
    body.update(overrides)
    return body


def jpeg_with_gps(size: tuple[int, int] = (640, 480), orientation: int | None = None) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = {1: "N", 2: (55.0, 5.0, 30.0), 3: "E", 4: (38.0, 46.0, 40.0)}
    exif[0x8825] = gps  # GPSInfo
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


async def outbox_events(kit: ServiceContext, subject: str | uuid.UUID) -> list[dict[str, Any]]:
    """The CloudEvents recorded for ``subject``, oldest first."""
    async with kit.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT body FROM problems.outbox WHERE body->>'subject' = :s ORDER BY id"), {"s": str(subject)}
        )
        return [row.body for row in rows]


def check_contract(event: dict[str, Any]) -> None:
    """The event's ``data`` against ``contracts/events/<service>/<entity>.<verb>.v1.json`` (formats too)."""
    key = event["type"].removeprefix("ru.gorod.")
    service, rest = key.split(".", 1)
    schema = json.loads((CONTRACTS / service / f"{rest}.json").read_text())
    jsonschema.validate(event["data"], schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


Report = Callable[..., Any]


@pytest.fixture
def report(client: httpx.AsyncClient, auth: Tokens) -> Report:
    """POST a report as a (given or fresh) citizen; returns (response json, headers used)."""

    async def make(headers: dict[str, str] | None = None, **overrides: Any) -> tuple[dict[str, Any], dict[str, str]]:
        who = headers or auth("citizen")
        response = await client.post("/api/v1/problems", json=report_body(**overrides), headers=who)
        assert response.status_code == 201, response.text
        return response.json(), who

    return make
