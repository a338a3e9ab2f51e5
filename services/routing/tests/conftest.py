"""Fixtures of the routing service's tests: the real app and a real consumer on the test stack, the demo town."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import jsonschema
import pytest
from fastapi import FastAPI
from sqlalchemy import select, text

from routing import demo
from routing.events.consumed import SUBSCRIPTIONS
from routing.main import create_app
from routing.settings import RoutingSettings
from servicekit.app import ServiceContext
from servicekit.broker import declare_exchanges
from servicekit.consumer import ConsumerRunner
from servicekit.events import CloudEvent, new_event
from servicekit.tables import kit_tables
from servicekit.testing.plugin import TestStack
from servicekit.uow import UnitOfWork

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts" / "events"
BASE_URL = "http://127.0.0.1:8003"


@pytest.fixture(scope="session")
def routing_settings(gorod_stack: TestStack) -> RoutingSettings:
    return RoutingSettings()


@pytest.fixture(scope="session")
async def routing_app(routing_settings: RoutingSettings) -> AsyncIterator[FastAPI]:
    app = create_app(routing_settings)
    async with app.router.lifespan_context(app):
        async with app.state.kit.session_factory() as session, session.begin():
            await demo.seed(session)
        yield app


@pytest.fixture
def kit(routing_app: FastAPI) -> ServiceContext:
    context: ServiceContext = routing_app.state.kit
    return context


@pytest.fixture
def uow(kit: ServiceContext) -> Callable[[], UnitOfWork]:
    return kit.unit_of_work


@pytest.fixture
async def client(routing_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=routing_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


@pytest.fixture(scope="session")
def tokens(gorod_stack: TestStack) -> Any:
    return gorod_stack.tokens


def bearer(stack: TestStack, user_id: uuid.UUID, *roles: str) -> dict[str, str]:
    return stack.tokens.bearer("routing", subject=str(user_id), roles=list(roles))


def validate(event: dict[str, Any]) -> None:
    """Validate an outbox body against its contract in contracts/events."""
    service, entity, verb, version = event["type"].removeprefix("ru.gorod.").split(".")
    schema = json.loads((CONTRACTS / service / f"{entity}.{verb}.{version}.json").read_text())
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(event["data"])


async def outbox(kit: ServiceContext, routing_key: str, subject: str | uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Events recorded in the outbox (each validated against its contract)."""
    table = kit_tables("routing").outbox
    async with kit.session_factory() as session:
        query = select(table.c.body).where(table.c.routing_key == routing_key).order_by(table.c.id)
        bodies = [row[0] for row in (await session.execute(query)).all()]
    events = [b for b in bodies if subject is None or b.get("subject") == str(subject)]
    for event in events:
        validate(event)
    return events


def published_event(
    *,
    lon: float = 38.82,
    lat: float = 55.10,
    category_code: str = "roads.pothole",
    author_id: uuid.UUID | None = None,
    applicant: dict[str, Any] | None = None,
    map_code: str = "city",
    problem_id: uuid.UUID | None = None,
) -> CloudEvent:
    data = {
        "problem_id": str(problem_id or uuid.uuid4()),
        "map_id": str(uuid.uuid4()),
        "map_code": map_code,
        "category_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"category:{category_code}")),
        "category_code": category_code,
        "category_name": "Яма на дороге" if category_code == "roads.pothole" else "Категория " + category_code,
        "point": {"lon": lon, "lat": lat},
        "address": "Коломна, ул. Октябрьской Революции, 350",
        "title": "Глубокая яма у остановки",
        "description": "Яма глубиной около 15 см, машины объезжают по встречной.",
        "published_at": datetime.now(UTC).isoformat(),
        "photos": ["https://media.gorod.example/p/1.jpg"],
        "public_url": "https://gorod.example/problems/1",
        "author_id": str(author_id) if author_id else None,
        "applicant": applicant,
    }
    return new_event("problems.problem.published.v1", data, source="problems", subject=data["problem_id"])


@pytest.fixture(scope="session")
async def consumer(routing_app: FastAPI, routing_settings: RoutingSettings) -> AsyncIterator[ConsumerRunner]:
    """The routing service's real consumers on the test vhost (queues, inbox, handlers)."""
    stop = asyncio.Event()
    runner = ConsumerRunner(
        service_name="routing",
        schema="routing",
        amqp_url=routing_settings.amqp_url,
        session_factory=routing_app.state.kit.session_factory,
        subscriptions=SUBSCRIPTIONS,
        prefetch=8,
        retry_delays=(0.2, 0.5),
        delivery_limit=3,
    )
    task = asyncio.create_task(runner.run(stop))
    await asyncio.wait_for(runner.ready.wait(), timeout=15)
    yield runner
    stop.set()
    await asyncio.wait_for(task, timeout=20)


Publish = Callable[[CloudEvent], Awaitable[None]]


@pytest.fixture
async def publish(routing_settings: RoutingSettings) -> AsyncIterator[Publish]:
    connection = await aio_pika.connect_robust(routing_settings.amqp_url)
    channel = await connection.channel()
    exchange = await declare_exchanges(channel)

    async def send(event: CloudEvent) -> None:
        await exchange.publish(
            aio_pika.Message(
                body=event.to_json_bytes(), message_id=str(event.id), content_type="application/cloudevents+json"
            ),
            routing_key=event.routing_key,
        )

    yield send
    await connection.close()


async def eventually(predicate: Callable[[], Awaitable[Any]], timeout: float = 15) -> Any:
    async with asyncio.timeout(timeout):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(0.05)


async def appeals_of_problem(kit: ServiceContext, problem_id: str | uuid.UUID) -> list[Any]:
    async with kit.session_factory() as session:
        result = await session.execute(
            text("SELECT * FROM routing.appeals WHERE problem_id = :p ORDER BY sent_at"),
            {"p": uuid.UUID(str(problem_id))},
        )
        return list(result.all())
