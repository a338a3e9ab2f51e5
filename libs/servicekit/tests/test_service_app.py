"""The composition root, served by a real uvicorn on a local port with its lifespan: health checks against
the real PostgreSQL and RabbitMQ (and without them), metrics, request ids, ``traceparent`` and JSON logs."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from aiomisc.pytest import TCPProxy
from fastapi import APIRouter, FastAPI, Request
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from servicekit.app import create_service_app, service_context
from servicekit.events import new_event
from servicekit.http.problems import PROBLEM_JSON
from servicekit.logs import current_trace_headers
from servicekit.settings import ServiceSettings
from servicekit.tables import kit_tables
from servicekit.uow import UnitOfWork

from .conftest import SCHEMA

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SECRET = "connection string postgres://admin:s3cret@db"

log = logging.getLogger("kittest.things")


def things_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1")

    @router.get("/things/{thing_id}")
    async def get_thing(thing_id: int) -> dict[str, Any]:
        log.info("thing looked at", extra={"thing_id": thing_id})
        return {"id": thing_id, "trace": current_trace_headers()}

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    return router


def build_app(settings: ServiceSettings) -> FastAPI:
    return create_service_app(
        settings, title="Kit test", description="Сервис для проверки набора.", routers=[things_router()]
    )


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``create_service_app`` reconfigures the root logger: put it back for the tests that follow."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    access = logging.getLogger("uvicorn.access").disabled
    httpx_level = logging.getLogger("httpx").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = access
    logging.getLogger("httpx").setLevel(httpx_level)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """``app`` under a real uvicorn, lifespan included, on an ephemeral port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
            yield client
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        sock.close()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, never listening, so nobody else takes it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _with_port(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def _amqp_with_port(amqp_url: str, port: int) -> str:
    vhost = amqp_url.rsplit("/", 1)[1]
    return f"amqp://guest:guest@127.0.0.1:{port}/{vhost}"


async def _ready(client: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await client.get("/health/ready")
    return response.status_code, response.json()


# --- health -------------------------------------------------------------------------------------------


async def test_live_and_ready_with_the_real_database_and_broker(kit_settings: ServiceSettings) -> None:
    async with serving(build_app(kit_settings)) as client:
        live = await client.get("/health/live")
        assert live.status_code == 200
        assert live.json() == {"status": "live", "service": "kittest"}

        status, body = await _ready(client)
        assert status == 200
        assert body == {"status": "ready", "service": "kittest", "checks": {"database": "ok", "broker": "ok"}}

        status, _ = await _ready(client)  # the kept broker connection proves itself again
        assert status == 200


async def test_the_lifespan_opens_the_context_and_closes_it(kit_settings: ServiceSettings) -> None:
    app = build_app(kit_settings)
    async with serving(app) as client:
        assert (await client.get("/health/ready")).status_code == 200
        context = app.state.kit
        assert context.settings is kit_settings
        assert context.engine.pool.checkedin() >= 1  # the pool is open and was used
    assert context.engine.pool.checkedin() == 0  # disposed at shutdown


async def test_not_ready_without_the_broker(kit_settings: ServiceSettings, closed_port: int) -> None:
    settings = kit_settings.model_copy(update={"amqp_url": _amqp_with_port(kit_settings.amqp_url, closed_port)})
    async with serving(build_app(settings)) as client:
        assert (await client.get("/health/live")).status_code == 200  # alive, just not ready

        status, body = await asyncio.wait_for(_ready(client), timeout=5)
        assert status == 503
        assert body["status"] == "unready"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["broker"].startswith("down")


async def test_not_ready_without_the_database(kit_settings: ServiceSettings, closed_port: int) -> None:
    settings = kit_settings.model_copy(update={"database_url": _with_port(kit_settings.database_url, closed_port)})
    async with serving(build_app(settings)) as client:
        assert (await client.get("/health/live")).status_code == 200

        status, body = await asyncio.wait_for(_ready(client), timeout=5)
        assert status == 503
        assert body["status"] == "unready"
        assert body["checks"]["database"].startswith("down")
        assert body["checks"]["broker"] == "ok"
        assert "password" not in json.dumps(body).lower()


async def test_readiness_follows_a_broker_outage_and_recovery(kit_settings: ServiceSettings) -> None:
    proxy = TCPProxy("127.0.0.1", 5672)
    await proxy.start()
    settings = kit_settings.model_copy(update={"amqp_url": _amqp_with_port(kit_settings.amqp_url, proxy.proxy_port)})
    try:
        async with serving(build_app(settings)) as client:
            assert (await _ready(client))[0] == 200

            await proxy.close()  # the broker is gone: its connection cut, new ones refused
            status, body = await _ready(client)
            assert status == 503
            assert body["checks"]["broker"].startswith("down")
            assert body["checks"]["database"] == "ok"

            await proxy.start()
            assert (await _ready(client)) == (
                200,
                {"status": "ready", "service": "kittest", "checks": {"database": "ok", "broker": "ok"}},
            )
    finally:
        await proxy.close()


async def test_readiness_follows_a_database_outage_and_recovery(kit_settings: ServiceSettings) -> None:
    url = make_url(kit_settings.database_url)
    proxy = TCPProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    settings = kit_settings.model_copy(update={"database_url": _with_port(kit_settings.database_url, proxy.proxy_port)})
    try:
        async with serving(build_app(settings)) as client:
            assert (await _ready(client))[0] == 200

            await proxy.close()
            status, body = await _ready(client)
            assert status == 503
            assert body["checks"]["database"].startswith("down")
            assert body["checks"]["broker"] == "ok"

            await proxy.start()
            assert (await _ready(client))[0] == 200
    finally:
        await proxy.close()


# --- metrics ------------------------------------------------------------------------------------------


def _requests_total(text: str) -> dict[tuple[str, str, str], float]:
    totals: dict[tuple[str, str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "http_requests_total":
                labels = sample.labels
                totals[(labels["method"], labels["handler"], labels["status"])] = sample.value
    return totals


async def test_metrics_count_requests_by_route_template(kit_settings: ServiceSettings) -> None:
    async with serving(build_app(kit_settings)) as client:
        before = await client.get("/metrics")
        assert before.status_code == 200
        assert before.headers["content-type"].startswith("text/plain")
        assert ("GET", "/api/v1/things/{thing_id}", "2xx") not in _requests_total(before.text)

        for thing_id in (1, 2, 3):
            assert (await client.get(f"/api/v1/things/{thing_id}")).status_code == 200
        assert (await client.get("/api/v1/things/nope")).status_code == 422
        assert (await client.get("/no/such/route")).status_code == 404
        await client.get("/health/live")
        await client.get("/health/ready")

        metrics = await client.get("/metrics")
        totals = _requests_total(metrics.text)
        assert totals[("GET", "/api/v1/things/{thing_id}", "2xx")] == 3
        assert totals[("GET", "/api/v1/things/{thing_id}", "4xx")] == 1
        assert totals[("GET", "none", "4xx")] == 1  # no route matched: counted, without the raw path as a label
        assert not [key for key in totals if key[1].startswith("/health") or key[1] == "/metrics"]
        assert "http_request_duration_seconds" in metrics.text


def _gauges(text: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("outbox_")
    }


async def test_metrics_show_the_outbox_backlog_the_relay_has_not_published(
    kit_settings: ServiceSettings, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with serving(build_app(kit_settings)) as client:
        assert _gauges((await client.get("/metrics")).text) == {
            "outbox_pending_events": 0.0,
            "outbox_oldest_pending_age_seconds": 0.0,
        }

        for n in range(3):
            async with UnitOfWork(session_factory, SCHEMA) as uow:
                uow.record(new_event("kittest.widget.created.v1", {"n": n}, source=SCHEMA))
                await uow.commit()
        await asyncio.sleep(0.05)
        waiting = _gauges((await client.get("/metrics")).text)
        assert waiting["outbox_pending_events"] == 3
        assert 0.05 <= waiting["outbox_oldest_pending_age_seconds"] < 60

        outbox = kit_tables(SCHEMA).outbox
        async with session_factory() as session, session.begin():  # what the relay does once the broker confirms
            await session.execute(update(outbox).values(published_at=outbox.c.created_at))
        assert _gauges((await client.get("/metrics")).text) == {
            "outbox_pending_events": 0.0,
            "outbox_oldest_pending_age_seconds": 0.0,
        }


async def test_metrics_still_answer_without_the_database_and_say_the_backlog_is_unknown(
    kit_settings: ServiceSettings, closed_port: int
) -> None:
    settings = kit_settings.model_copy(update={"database_url": _with_port(kit_settings.database_url, closed_port)})
    async with serving(build_app(settings)) as client:
        metrics = await asyncio.wait_for(client.get("/metrics"), timeout=5)
        assert metrics.status_code == 200
        gauges = _gauges(metrics.text)
        assert math.isnan(gauges["outbox_pending_events"])
        assert math.isnan(gauges["outbox_oldest_pending_age_seconds"])
        assert "http_request_duration_seconds" in metrics.text


async def test_each_app_has_its_own_metrics(kit_settings: ServiceSettings) -> None:
    async with serving(build_app(kit_settings)) as first:
        await first.get("/api/v1/things/1")
        async with serving(build_app(kit_settings)) as second:
            totals = _requests_total((await second.get("/metrics")).text)
            assert ("GET", "/api/v1/things/{thing_id}", "2xx") not in totals


# --- request ids, traceparent, logs -------------------------------------------------------------------


async def test_request_id_is_echoed_or_generated(kit_settings: ServiceSettings) -> None:
    async with serving(build_app(kit_settings)) as client:
        sent = str(uuid.uuid4())
        response = await client.get("/api/v1/things/1", headers={"X-Request-ID": sent})
        assert response.headers["x-request-id"] == sent
        assert response.json()["trace"]["x-request-id"] == sent

        first = (await client.get("/health/live")).headers["x-request-id"]
        second = (await client.get("/health/live")).headers["x-request-id"]
        assert uuid.UUID(first)
        assert uuid.UUID(second)
        assert first != second

        response = await client.get("/health/live", headers={"X-Request-ID": "not-a-uuid; drop table"})
        assert response.headers["x-request-id"] != "not-a-uuid; drop table"
        assert uuid.UUID(response.headers["x-request-id"])


async def test_trace_headers_inside_a_request(kit_settings: ServiceSettings) -> None:
    async with serving(build_app(kit_settings)) as client:
        request_id = str(uuid.uuid4())
        response = await client.get(
            "/api/v1/things/5", headers={"X-Request-ID": request_id, "traceparent": TRACEPARENT}
        )
        assert response.json()["trace"] == {"x-request-id": request_id, "traceparent": TRACEPARENT}

        # A malformed traceparent is not passed on; the request id still is.
        response = await client.get(
            "/api/v1/things/5", headers={"X-Request-ID": request_id, "traceparent": "00-xyz-01"}
        )
        assert response.json()["trace"] == {"x-request-id": request_id}

        # Nothing leaks from one request into the next.
        response = await client.get("/api/v1/things/6")
        trace = response.json()["trace"]
        assert set(trace) == {"x-request-id"}
        assert trace["x-request-id"] == response.headers["x-request-id"] != request_id


def _json_lines(out: str) -> list[dict[str, Any]]:
    records = []
    for line in out.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    return records


async def test_json_log_lines_carry_the_request_id_and_traceparent(
    kit_settings: ServiceSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_app(kit_settings.model_copy(update={"log_json": True}))
    async with serving(app) as client:
        request_id = str(uuid.uuid4())
        await client.get("/api/v1/things/9", headers={"X-Request-ID": request_id, "traceparent": TRACEPARENT})
        await client.get("/api/v1/things/10")

    records = [r for r in _json_lines(capsys.readouterr().out) if r.get("message") == "thing looked at"]
    assert len(records) == 2
    first, second = records
    assert first["request_id"] == request_id
    assert first["traceparent"] == TRACEPARENT
    assert first["service"] == "kittest"
    assert first["level"] == "INFO"
    assert first["logger"] == "kittest.things"
    assert first["thing_id"] == 9
    assert "time" in first
    assert second["request_id"] not in (None, request_id)
    assert second["traceparent"] is None


async def test_an_unexpected_error_is_a_problem_with_a_request_id_the_log_shares(
    kit_settings: ServiceSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    app = build_app(kit_settings.model_copy(update={"log_json": True}))
    async with serving(app) as client:
        request_id = str(uuid.uuid4())
        response = await client.get("/api/v1/boom", headers={"X-Request-ID": request_id})

    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["status"] == 500
    assert body["instance"] == "/api/v1/boom"
    assert CYRILLIC.search(body["detail"])
    assert SECRET not in response.text
    # The person quotes the id from the response; the developer finds the traceback by it.
    assert response.headers.get("x-request-id") == request_id
    errors = [r for r in _json_lines(capsys.readouterr().out) if r["logger"] == "servicekit.http.problems"]
    assert [r["request_id"] for r in errors] == [request_id]
    assert SECRET in errors[0]["exc_info"]


async def test_other_errors_are_problems_with_a_request_id(kit_settings: ServiceSettings) -> None:
    async with serving(build_app(kit_settings)) as client:
        response = await client.get("/api/v1/nowhere")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM_JSON
        assert CYRILLIC.search(response.json()["detail"])
        assert uuid.UUID(response.headers["x-request-id"])


async def test_service_context_is_reachable_from_a_request(kit_settings: ServiceSettings) -> None:
    router = APIRouter()

    @router.get("/api/v1/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        return {"schema": service_context(request).settings.db_schema}

    app = create_service_app(kit_settings, title="t", description="d", routers=[router])
    async with serving(app) as client:
        assert (await client.get("/api/v1/whoami")).json() == {"schema": "kittest"}
