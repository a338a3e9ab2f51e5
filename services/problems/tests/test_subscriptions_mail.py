# ruff: noqa: F811  (pytest fixtures imported from test_reading_fixtures are parameters here)
"""E-mail to subscribers, against a real SMTP server on loopback, PostgreSQL and (end to end) RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from sqlalchemy import text

from problems.settings import ProblemsSettings
from problems.usecases import notifications
from servicekit.app import ServiceContext
from servicekit.events import CloudEvent, new_event
from servicekit.testing.smtp import SmtpSink, smtp_server
from servicekit.uow import UnitOfWork
from servicekit.worker import run_worker

from .test_reading_fixtures import Seed, reading_app, reading_client, reading_kit, reading_settings, seed  # noqa: F401

pytestmark = pytest.mark.integration

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts" / "events"


def _spot() -> tuple[float, float]:
    """A place of its own for each test: area subscriptions of other tests (same database) are far away."""
    return (round(random.uniform(40.0, 130.0), 4), round(random.uniform(50.0, 66.0), 4))


def _status_changed(
    problem: uuid.UUID, to_status: str, here: tuple[float, float], *, from_status: str = "published", **extra: Any
) -> CloudEvent:
    data = {
        "problem_id": str(problem),
        "category_id": str(uuid.uuid4()),
        "point": {"lon": here[0], "lat": here[1]},
        "from_status": from_status,
        "to_status": to_status,
        "changed_at": datetime.now(UTC).isoformat(),
        **extra,
    }
    schema = json.loads((CONTRACTS / "problems" / "problem.status_changed.v1.json").read_text())
    jsonschema.validate(data, schema)  # what we consume is what the contract says we receive
    return new_event("problems.problem.status_changed.v1", data, source="problems", subject=str(problem))


async def _subscribe(seed: Seed, user: uuid.UUID, email: str, **values: Any) -> str:
    token = f"tok-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    kind = values.pop("kind")
    center = values.pop("center", None)
    await seed.execute(
        "INSERT INTO problems.subscriptions"
        " (id, user_id, email, kind, problem_id, center, radius_m, territory_id, token)"
        " VALUES (:id, :user, :email, :kind, :problem_id,"
        " CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,"
        " :radius_m, :territory_id, :token)",
        {
            "id": uuid.uuid4(),
            "user": user,
            "email": email,
            "kind": kind,
            "problem_id": values.get("problem_id"),
            "lon": center[0] if center else None,
            "lat": center[1] if center else None,
            "radius_m": values.get("radius_m"),
            "territory_id": values.get("territory_id"),
            "token": token,
        },
    )
    return token


async def _handle(kit: ServiceContext, event: CloudEvent) -> None:
    async with UnitOfWork(kit.session_factory, "problems") as uow:
        await notifications.on_problem_event(event, uow)
        await uow.commit()


def _settings(settings: ProblemsSettings, box: SmtpSink) -> ProblemsSettings:
    return settings.model_copy(update={"smtp_host": box.host, "smtp_port": box.port, "notify_interval": 0.1})


async def test_status_change_mails_each_subscriber_once(
    reading_client: httpx.AsyncClient, reading_settings: ProblemsSettings, seed: Seed
) -> None:
    here = _spot()
    territory = uuid.uuid4()
    [problem] = await seed.problems(
        {"lon": here[0], "lat": here[1], "title": "Яма у школы", "territory_ids": [str(territory)]}
    )
    follower, neighbour, far, citywide, both = (uuid.uuid4() for _ in range(5))
    await _subscribe(seed, follower, "follower@example.org", kind="problem", problem_id=problem)
    await _subscribe(
        seed, neighbour, "neighbour@example.org", kind="area", center=(here[0] + 0.005, here[1]), radius_m=500
    )  # ≈ 320 m away
    await _subscribe(seed, far, "far@example.org", kind="area", center=(here[0] + 0.05, here[1]), radius_m=500)
    await _subscribe(seed, citywide, "city@example.org", kind="territory", territory_id=territory)
    await _subscribe(seed, both, "both@example.org", kind="problem", problem_id=problem)
    await _subscribe(seed, both, "both-area@example.org", kind="area", center=here, radius_m=100)
    await seed.execute(
        "INSERT INTO problems.answers (id, problem_id, appeal_id, authority_name, text, outcome, answered_at)"
        " VALUES (:id, :p, :a, 'Администрация Коломенского городского округа', 'Яму заделают до 1 июня.',"
        " 'planned', now())",
        {"id": uuid.uuid4(), "p": problem, "a": uuid.uuid4()},
    )
    event = _status_changed(problem, "answered", here, from_status="in_work", text="Получен ответ")
    await _handle(seed.kit, event)
    await _handle(seed.kit, event)  # a redelivery queues nothing more
    async with smtp_server() as box:
        settings = _settings(reading_settings, box)
        assert await notifications.send_pending(settings, seed.kit.session_factory) >= 4
        recipients = sorted(r for rcpt in box.recipients for r in rcpt)
        assert sorted(
            r
            for r in recipients
            if r.endswith("@example.org")
            and r
            in {
                "follower@example.org",
                "neighbour@example.org",
                "far@example.org",
                "city@example.org",
                "both@example.org",
                "both-area@example.org",
            }
        ) == ["both@example.org", "city@example.org", "follower@example.org", "neighbour@example.org"]
        message = box.to("follower@example.org")[0]
        assert message["Subject"] == "Получен ответ: Яма у школы"
        body = SmtpSink.text(message)
        assert "Яму заделают до 1 июня." in body
        assert "Администрация Коломенского городского округа" in body
        assert f"/problems/{problem}" in body
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        unsubscribe = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"])
        assert unsubscribe is not None
        assert unsubscribe.group(1) in body
        # Nothing more to send: every mail went exactly once.
        assert await notifications.send_pending(settings, seed.kit.session_factory) == 0
        # One-click unsubscribe (RFC 8058): the mail client POSTs to the header's URL.
        url = httpx.URL(unsubscribe.group(1))
        page = await reading_client.get(url.path, params=dict(url.params))
        assert page.status_code == 200
        assert "Отписаться" in page.text
        done = await reading_client.post(url.path, params=dict(url.params), data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200, done.text
        assert "Вы отписаны" in done.text
        again = await reading_client.post(url.path, params=dict(url.params), data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200
        await _handle(seed.kit, _status_changed(problem, "solved", here, from_status="answered"))
        await notifications.send_pending(settings, seed.kit.session_factory)
        assert len(box.to("follower@example.org")) == 1  # unsubscribed: no second mail
        assert len(box.to("neighbour@example.org")) == 2


async def test_hidden_and_private_changes_reach_only_followers(reading_settings: ProblemsSettings, seed: Seed) -> None:
    here = _spot()
    public, private = await seed.problems({"lon": here[0], "lat": here[1]}, {"category": "secret"})
    follower, neighbour = uuid.uuid4(), uuid.uuid4()
    await _subscribe(seed, follower, "f2@example.org", kind="problem", problem_id=public)
    await _subscribe(seed, follower, "f2@example.org", kind="problem", problem_id=private)
    await _subscribe(seed, neighbour, "n2@example.org", kind="area", center=here, radius_m=1000)
    await _handle(seed.kit, _status_changed(public, "withdrawn", here, reason="Проблему решили сами"))
    await _handle(seed.kit, _status_changed(private, "in_work", here))
    async with smtp_server() as box:
        await notifications.send_pending(_settings(reading_settings, box), seed.kit.session_factory)
        assert len(box.to("f2@example.org")) == 2
        assert box.to("n2@example.org") == []
        withdrawn = [m for m in box.to("f2@example.org") if "Отозвана" in m["Subject"]]
        assert "Причина: Проблему решили сами" in SmtpSink.text(withdrawn[0])


async def test_transient_failures_retry_permanent_ones_stop(reading_settings: ProblemsSettings, seed: Seed) -> None:
    here = _spot()
    [problem] = await seed.problems({})
    await _subscribe(seed, uuid.uuid4(), "retry@example.org", kind="problem", problem_id=problem)
    await _subscribe(seed, uuid.uuid4(), "gone@example.org", kind="problem", problem_id=problem)
    await _handle(seed.kit, _status_changed(problem, "in_work", here))
    async with smtp_server() as box:
        settings = _settings(reading_settings, box)
        box.fail_next(1, "451 4.3.0 Try again later")
        box.fail_next(1, "550 5.1.1 No such user")
        assert await notifications.send_pending(settings, seed.kit.session_factory) == 0
        async with seed.kit.session_factory() as session:
            states = dict(
                (
                    await session.execute(
                        text("SELECT state, count(*) FROM problems.notifications WHERE problem_id = :p GROUP BY 1"),
                        {"p": problem},
                    )
                ).all()
            )
        assert states == {"pending": 1, "failed": 1}
        # Not due yet: the back-off holds it.
        assert await notifications.send_pending(settings, seed.kit.session_factory) == 0
        await seed.execute(
            "UPDATE problems.notifications SET next_attempt_at = now() WHERE problem_id = :p AND state = 'pending'",
            {"p": problem},
        )
        assert await notifications.send_pending(settings, seed.kit.session_factory) == 1
        assert len(box.messages) == 1


async def test_erasure_deletes_subscriptions_and_queued_mail(seed: Seed) -> None:
    here = _spot()
    [problem] = await seed.problems({})
    user = uuid.uuid4()
    await _subscribe(seed, user, "erase-me@example.org", kind="problem", problem_id=problem)
    await _subscribe(seed, user, "erase-me@example.org", kind="area", center=here, radius_m=300)
    await _handle(seed.kit, _status_changed(problem, "in_work", here))
    erased = new_event(
        "auth.user.erased.v1", {"user_id": str(user), "erased_at": datetime.now(UTC).isoformat()}, source="auth"
    )
    jsonschema.validate(erased.data, json.loads((CONTRACTS / "auth" / "user.erased.v1.json").read_text()))
    async with UnitOfWork(seed.kit.session_factory, "problems") as uow:
        await notifications.on_user_erased(erased, uow)
        await uow.commit()
    async with seed.kit.session_factory() as session:
        left = await session.execute(
            text(
                "SELECT (SELECT count(*) FROM problems.subscriptions WHERE user_id = :u)"
                " + (SELECT count(*) FROM problems.notifications WHERE user_id = :u)"
                " + (SELECT count(*) FROM problems.subscriptions WHERE email = 'erase-me@example.org')"
            ),
            {"u": user},
        )
        assert left.scalar_one() == 0


async def test_end_to_end_through_the_outbox_and_rabbitmq(reading_settings: ProblemsSettings, seed: Seed) -> None:
    """The worker as it runs: outbox relay → RabbitMQ → consumer queues the mail → sender delivers it."""
    here = _spot()
    [problem] = await seed.problems({"title": "Не горит фонарь", "category": "light"})
    await _subscribe(seed, uuid.uuid4(), "e2e@example.org", kind="problem", problem_id=problem)
    async with smtp_server() as box:
        settings = _settings(reading_settings, box)
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, notifications.SUBSCRIPTIONS, stop=stop))
        sender = asyncio.create_task(notifications.run_sender(settings, stop))
        try:
            # The consumer must have declared its queue before the event is published.
            await asyncio.sleep(3)
            async with UnitOfWork(seed.kit.session_factory, "problems") as uow:
                uow.record(_status_changed(problem, "in_work", here, text="Работы начаты"))
                await uow.commit()
            message = await box.wait_for(to="e2e@example.org", timeout=30)
        finally:
            stop.set()
            await asyncio.wait_for(asyncio.gather(worker, sender), timeout=30)
        assert message["Subject"] == "В работе: Не горит фонарь"
        assert "Работы начаты" in SmtpSink.text(message)
        assert len(box.to("e2e@example.org")) == 1
