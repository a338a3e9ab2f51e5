"""The platform as `make up` runs it: every API, worker and the gateway as real processes."""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import smtplib
import time
import uuid
from email.message import EmailMessage

import aio_pika
import asyncpg
import httpx

from servicekit.broker import declare_exchanges
from servicekit.testing.plugin import TestStack

from .conftest import RunningStack


def test_gateway_health_names_every_service_ready(running_stack: RunningStack) -> None:
    response = httpx.get(f"{running_stack.gateway_url}/health", timeout=10)
    assert response.status_code == 200, response.text
    services = response.json()["services"]
    assert set(services) == set(running_stack.service_urls)
    for name, status in services.items():
        assert status["status"] == "ready", name
        assert status["checks"] == {"database": "ok", "broker": "ok"}, name


async def test_every_worker_relays_its_own_outbox(gorod_stack: TestStack, running_stack: RunningStack) -> None:
    """An event committed to a service's outbox reaches the broker through that service's own worker."""
    connection = await aio_pika.connect(gorod_stack.amqp_url)
    try:
        channel = await connection.channel()
        exchange = await declare_exchanges(channel)
        queue = await channel.declare_queue(exclusive=True)
        suffix = uuid.uuid4().hex[:8]
        expected = {}
        for service in running_stack.service_urls:
            routing_key = f"{service}.probe.sent_{suffix}.v1"
            await queue.bind(exchange, routing_key=routing_key)
            event_id = uuid.uuid4()
            body = {
                "specversion": "1.0",
                "id": str(event_id),
                "source": service,
                "type": f"ru.gorod.{routing_key}",
                "time": "2026-11-22T12:00:00Z",
                "datacontenttype": "application/json",
                "data": {},
            }
            db = await asyncpg.connect(gorod_stack.databases[service].url.replace("+asyncpg", ""))
            try:
                await db.execute(
                    f"INSERT INTO {service}.outbox (event_id, routing_key, body) VALUES ($1, $2, $3::jsonb)",
                    event_id,
                    routing_key,
                    json.dumps(body),
                )
            finally:
                await db.close()
            expected[str(event_id)] = service
        received = {}
        async with asyncio.timeout(30):
            async with queue.iterator() as messages:
                async for message in messages:
                    async with message.process():
                        event = json.loads(message.body)
                        received[event["id"]] = event["source"]
                    if len(received) == len(expected):
                        break
        assert received == expected
    finally:
        await connection.close()


def test_the_platforms_mail_lands_in_the_mail_sink(running_stack: RunningStack) -> None:
    """A registration's confirmation mail goes from the auth process through SMTP to the Procfile's mail sink, and the
    e-mail channel's process (`routing-mail`) is up and receiving."""
    address = f"sink-{uuid.uuid4().hex[:10]}@example.org"
    with httpx.Client(base_url=running_stack.service_urls["auth"], timeout=10) as client:
        page = client.get("/register")
        version = re.search(r'name="consent_version" value="([^"]+)"', page.text)
        assert version, page.text[:500]
        form = {
            "csrf_token": client.cookies["gorod_csrf"],
            "email": address,
            "password": "Correct horse 2026",
            "full_name": "Анна Смирнова",
            "consent": "yes",
            "consent_version": version.group(1),
        }
        assert client.post("/register", data=form).status_code == 200
    maildir = running_stack.logs / "mail" / "new"
    deadline = time.monotonic() + 30
    found: list[EmailMessage] = []
    while not found and time.monotonic() < deadline:
        messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in maildir.glob("*")]
        found = [m for m in messages if isinstance(m, EmailMessage) and m["To"] == address]
        time.sleep(0.2)
    assert found, f"no mail to {address} in {maildir}"
    body = found[0].get_body()
    assert body is not None
    assert "/confirm-email" in body.get_content()

    assert running_stack.processes["routing-mail"].poll() is None
    with smtplib.SMTP("127.0.0.1", running_stack.inbound_smtp_port, timeout=10) as receiver:
        receiver.ehlo()
        assert receiver.mail("x@example.org")[0] == 250
        code, _ = receiver.rcpt("appeal+nosuchtoken@gorod.example")
    assert code == 550  # not one of our reply addresses: not a relay


def test_gateway_reports_a_service_that_is_down(running_stack: RunningStack) -> None:
    running_stack.stop("analytics")
    response = httpx.get(f"{running_stack.gateway_url}/health", timeout=10)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "degraded"
    assert body["services"]["analytics"]["status"] == "unreachable"
    assert body["services"]["auth"]["status"] == "ready"
