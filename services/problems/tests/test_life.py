"""The life of a problem: routing's appeal events (through the real consumer and broker, and directly)
move status, authority, deadline, answers and the timeline; the author confirms, disputes, rates; the
confirmation window closes on its own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text

from problems.events.consumed import SUBSCRIPTIONS, on_appeal_event
from problems.settings import ProblemsSettings
from problems.usecases.author import close_expired_windows
from servicekit.app import ServiceContext
from servicekit.consumer import ConsumerRunner
from servicekit.events import CloudEvent, new_event

from .conftest import Report, Tokens, check_contract, outbox_events

AUTHORITY = uuid.uuid5(uuid.NAMESPACE_URL, "gorod:authority:kolomna-roads")
ANSWERED_BY = "Управление дорожного хозяйства и транспорта"


def appeal_event(verb: str, problem_id: str, appeal_id: uuid.UUID, at: datetime, **data: Any) -> CloudEvent:
    payload = {
        "appeal_id": str(appeal_id),
        "problem_id": problem_id,
        "authority_id": str(AUTHORITY),
        "authority_name": ANSWERED_BY,
        "category_id": str(uuid.uuid4()),
        "occurred_at": at.isoformat(),
        **data,
    }
    event = new_event(f"routing.appeal.{verb}.v1", payload, source="routing", subject=str(appeal_id))
    check_contract(event.model_dump(mode="json"))  # our test events follow routing's contracts too
    return event


async def deliver(kit: ServiceContext, event: CloudEvent) -> None:
    async with kit.unit_of_work() as uow:
        await on_appeal_event(event, uow)
        await uow.commit()


async def walk_to_answer(kit: ServiceContext, problem_id: str, outcome: str = "solved") -> uuid.UUID:
    appeal = uuid.uuid4()
    t0 = datetime.now(UTC)
    due = t0 + timedelta(days=30)
    await deliver(
        kit,
        appeal_event(
            "sent",
            problem_id,
            appeal,
            t0,
            channel="cabinet",
            reason="По категории",
            registration_due_at=(t0 + timedelta(days=3)).isoformat(),
        ),
    )
    await deliver(
        kit,
        appeal_event(
            "registered",
            problem_id,
            appeal,
            t0 + timedelta(seconds=2),
            registered_at=(t0 + timedelta(seconds=2)).isoformat(),
            answer_due_at=due.isoformat(),
            registration_number="К-123",
        ),
    )
    await deliver(kit, appeal_event("assigned", problem_id, appeal, t0 + timedelta(seconds=3)))
    await deliver(
        kit,
        appeal_event(
            "answered",
            problem_id,
            appeal,
            t0 + timedelta(seconds=4),
            answer_id=str(uuid.uuid4()),
            text="Яма заделана 20 ноября.",
            outcome=outcome,
            answered_at=(t0 + timedelta(seconds=4)).isoformat(),
            on_time=True,
            answered_by="И. И. Иванов",
        ),
    )
    return appeal


async def test_routing_events_drive_status_and_timeline(
    client: httpx.AsyncClient, kit: ServiceContext, report: Report
) -> None:
    problem, author = await report()
    appeal = await walk_to_answer(kit, problem["id"])
    view = (await client.get(f"/api/v1/problems/{problem['id']}", headers=author)).json()
    assert view["status"] == "answered"
    assert view["status_name"] == "Получен ответ"
    assert view["authority"] == {"id": str(AUTHORITY), "name": ANSWERED_BY}
    assert view["appeal_id"] == str(appeal)
    assert view["answer_due_at"] is not None
    assert [s["status"] for s in view["timeline"]] == ["published", "sent", "registered", "in_work", "answered"]
    assert "К-123" in view["timeline"][2]["text"]
    assert view["answers"][0]["text"] == "Яма заделана 20 ноября."
    assert view["answers"][0]["answered_by"] == "И. И. Иванов"
    assert view["can_confirm_until"] is not None
    changes = [e for e in await outbox_events(kit, problem["id"]) if e["type"].endswith("status_changed.v1")]
    assert [(e["data"]["from_status"], e["data"]["to_status"]) for e in changes] == [
        ("published", "sent"),
        ("sent", "registered"),
        ("registered", "in_work"),
        ("in_work", "answered"),
    ]
    for event in changes:
        check_contract(event)


async def test_late_events_do_not_move_back_and_info_events_only_add_steps(
    kit: ServiceContext, client: httpx.AsyncClient, report: Report
) -> None:
    problem, _ = await report()
    appeal = uuid.uuid4()
    now = datetime.now(UTC)
    await deliver(kit, appeal_event("assigned", problem["id"], appeal, now))
    await deliver(
        kit,
        appeal_event(
            "registered",
            problem["id"],
            appeal,
            now - timedelta(hours=1),
            registered_at=now.isoformat(),
            answer_due_at=(now + timedelta(days=30)).isoformat(),
        ),
    )
    new_due = now + timedelta(days=60)
    await deliver(
        kit,
        appeal_event(
            "extended",
            problem["id"],
            appeal,
            now + timedelta(minutes=1),
            answer_due_at=new_due.isoformat(),
            extended_by_days=30,
            reason="Нужна экспертиза",
        ),
    )
    await deliver(
        kit,
        appeal_event(
            "overdue", problem["id"], appeal, now + timedelta(minutes=2), deadline="answer", due_at=now.isoformat()
        ),
    )
    view = (await client.get(f"/api/v1/problems/{problem['id']}")).json()
    assert view["status"] == "in_work"
    assert datetime.fromisoformat(view["answer_due_at"]) == new_due
    texts = [s["text"] for s in view["timeline"]]
    assert any("продлён на 30" in t for t in texts)
    assert any("Нарушен срок ответа" in t for t in texts)


async def test_forwarded_changes_the_authority(kit: ServiceContext, client: httpx.AsyncClient, report: Report) -> None:
    problem, _ = await report()
    appeal, other = uuid.uuid4(), uuid.uuid4()
    await deliver(
        kit,
        appeal_event(
            "forwarded",
            problem["id"],
            appeal,
            datetime.now(UTC),
            from_authority_id=str(AUTHORITY),
            to_authority_id=str(other),
            to_authority_name="Управление ЖКХ",
            reason="Не наша компетенция",
        ),
    )
    view = (await client.get(f"/api/v1/problems/{problem['id']}")).json()
    assert view["status"] == "forwarded"
    assert view["authority"] == {"id": str(other), "name": "Управление ЖКХ"}


async def test_confirm_and_rate(client: httpx.AsyncClient, kit: ServiceContext, report: Report, auth: Tokens) -> None:
    problem, author = await report()
    path = f"/api/v1/problems/{problem['id']}"
    early = await client.post(f"{path}/confirm", headers=author)
    assert early.status_code == 409
    await walk_to_answer(kit, problem["id"])
    assert (await client.post(f"{path}/confirm", headers=auth("citizen"))).status_code == 403
    assert (await client.post(f"{path}/confirm")).status_code == 401
    confirmed = await client.post(f"{path}/confirm", headers=author)
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "solved"
    bad = await client.post(f"{path}/rating", json={"rating": 6}, headers=author)
    assert bad.status_code == 422
    rated = await client.post(f"{path}/rating", json={"rating": 4}, headers=author)
    assert rated.status_code == 200
    assert rated.json()["rating"] == 4
    assert (await client.post(f"{path}/rating", json={"rating": 5}, headers=author)).status_code == 409
    events = await outbox_events(kit, problem["id"])
    kinds = [e["type"].split(".")[-2] for e in events]
    assert kinds[-3:] == ["status_changed", "confirmed", "rated"]
    for event in events[-3:]:
        check_contract(event)
    assert events[-1]["data"]["rating"] == 4


async def test_dispute_reopens(client: httpx.AsyncClient, kit: ServiceContext, report: Report) -> None:
    problem, author = await report()
    appeal = await walk_to_answer(kit, problem["id"], outcome="refused")
    path = f"/api/v1/problems/{problem['id']}"
    assert (await client.post(f"{path}/dispute", json={"reason": ""}, headers=author)).status_code == 422
    disputed = await client.post(f"{path}/dispute", json={"reason": "Яма на месте"}, headers=author)
    assert disputed.status_code == 200
    assert disputed.json()["status"] == "sent"
    reopened = (await outbox_events(kit, problem["id"]))[-1]
    check_contract(reopened)
    assert reopened["type"].endswith("reopened.v1")
    assert reopened["data"]["appeal_id"] == str(appeal)
    assert (await client.post(f"{path}/confirm", headers=author)).status_code == 409


async def test_window_expires(
    client: httpx.AsyncClient, kit: ServiceContext, report: Report, settings: ProblemsSettings
) -> None:
    solved, _ = await report()
    refused, _ = await report()
    await walk_to_answer(kit, solved["id"], outcome="solved")
    await walk_to_answer(kit, refused["id"], outcome="refused")
    async with kit.session_factory() as session, session.begin():
        await session.execute(
            text("UPDATE problems.problems SET can_confirm_until = now() - interval '1 minute' WHERE id IN (:a, :b)"),
            {"a": solved["id"], "b": refused["id"]},
        )
    job = close_expired_windows(settings)
    async with kit.session_factory() as session, session.begin():
        assert await job(session) >= 2
    assert (await client.get(f"/api/v1/problems/{solved['id']}")).json()["status"] == "solved"
    assert (await client.get(f"/api/v1/problems/{refused['id']}")).json()["status"] == "not_solved"
    last = (await outbox_events(kit, refused["id"]))[-1]
    check_contract(last)
    assert last["data"]["to_status"] == "not_solved"


async def test_consumer_over_rabbitmq(
    client: httpx.AsyncClient, kit: ServiceContext, report: Report, settings: ProblemsSettings
) -> None:
    """The real path: routing's event published on the broker, our consumer's queue, handler, inbox."""
    import aio_pika

    problem, _ = await report()
    runner = ConsumerRunner(
        service_name="problems",
        schema="problems",
        amqp_url=settings.amqp_url,
        session_factory=kit.session_factory,
        subscriptions=[s for s in SUBSCRIPTIONS if s.queue == "problems.appeal-status"],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        await asyncio.wait_for(runner.ready.wait(), timeout=20)
        event = appeal_event(
            "sent",
            problem["id"],
            uuid.uuid4(),
            datetime.now(UTC),
            channel="email",
            reason="По категории",
            registration_due_at=datetime.now(UTC).isoformat(),
        )
        connection = await aio_pika.connect_robust(settings.amqp_url)
        async with connection:
            channel = await connection.channel()
            exchange = await channel.get_exchange("gorod.events")
            for _ in range(2):  # a duplicate delivery is applied once
                await exchange.publish(
                    aio_pika.Message(event.to_json_bytes(), content_type="application/cloudevents+json"),
                    routing_key=event.routing_key,
                )
        for _ in range(100):
            view = (await client.get(f"/api/v1/problems/{problem['id']}")).json()
            if view["status"] == "sent":
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        view = (await client.get(f"/api/v1/problems/{problem['id']}")).json()
        assert view["status"] == "sent"
        assert [s["status"] for s in view["timeline"]] == ["published", "sent"]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=20)
