"""The deadline timer (reminders, overdue, escalation; idempotent and safe with concurrent workers), repeat
appeals after a dispute or a low rating, and erasure of the applicant's data."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import text

from routing import demo
from routing.events.consumed import on_problem_rated, on_problem_reopened, on_user_erased
from routing.usecases import appeals
from routing.usecases.timer import check_deadlines, deadline_job
from servicekit.app import ServiceContext
from servicekit.consumer import ConsumerRunner
from servicekit.events import new_event
from servicekit.testing.plugin import TestStack

from .conftest import Publish, appeals_of_problem, eventually, outbox
from .helpers import auth, bind_official, open_appeal

APPLICANT = {"full_name": "Иван Петров", "email": "ivan@example.org", "postal_address": "Коломна, ул. Зайцева, 5"}


async def _marks(kit: ServiceContext, appeal_id: uuid.UUID) -> list[str]:
    async with kit.session_factory() as session:
        rows = await session.execute(
            text("SELECT kind FROM routing.appeal_deadline_marks WHERE appeal_id = :id ORDER BY kind"),
            {"id": appeal_id},
        )
        return [r[0] for r in rows]


async def _timer(kit: ServiceContext, now: datetime) -> None:
    async with kit.unit_of_work() as uow:
        await check_deadlines(uow, now=now)
        await uow.commit()


async def test_reminder_then_overdue_registration_once(kit: ServiceContext) -> None:
    appeal = await open_appeal(kit, category_code="yard.playground")
    due = appeal.registration_due_at
    await _timer(kit, due - timedelta(days=4))
    assert await _marks(kit, appeal.id) == []
    await _timer(kit, due - timedelta(days=2))
    await _timer(kit, due - timedelta(days=1))
    assert await _marks(kit, appeal.id) == ["reminder_registration"]
    await _timer(kit, due + timedelta(minutes=1))
    await _timer(kit, due + timedelta(hours=5))
    assert await _marks(kit, appeal.id) == ["overdue_registration", "reminder_registration"]
    [event] = await outbox(kit, "routing.appeal.overdue.v1", appeal.id)
    assert event["data"]["deadline"] == "registration"
    assert await outbox(kit, "routing.appeal.escalated.v1", appeal.id) == []  # escalation is for the answer


async def test_overdue_answer_escalates_to_the_supervisor(kit: ServiceContext) -> None:
    appeal = await open_appeal(kit, category_code="housing.roof", lon=38.72, lat=55.12)
    async with kit.unit_of_work() as uow:
        await appeals.register(uow, appeal.id, actor=None, scope=None)
        await uow.commit()
    [row] = await appeals_of_problem(kit, appeal.problem_id)
    await _timer(kit, row.answer_due_at + timedelta(seconds=1))
    [overdue] = await outbox(kit, "routing.appeal.overdue.v1", appeal.id)
    assert overdue["data"]["deadline"] == "answer"
    [escalated] = await outbox(kit, "routing.appeal.escalated.v1", appeal.id)
    assert escalated["data"]["cause"] == "overdue"
    assert escalated["data"]["supervisor_id"] == str(demo.authority_id(demo.HOUSING_INSPECTION))  # housing: ГЖИ
    await _timer(kit, row.answer_due_at + timedelta(days=3))
    assert len(await outbox(kit, "routing.appeal.escalated.v1", appeal.id)) == 1


async def test_concurrent_timers_take_each_step_once(kit: ServiceContext) -> None:
    opened = [await open_appeal(kit, category_code="lighting.street") for _ in range(5)]
    late = max(a.registration_due_at for a in opened) + timedelta(minutes=1)
    job = deadline_job(kit.session_factory, clock=lambda: late)

    async def worker() -> None:
        async with kit.session_factory() as session, session.begin():
            await job(session)

    await asyncio.gather(*(worker() for _ in range(4)))
    for appeal in opened:
        assert len(await outbox(kit, "routing.appeal.overdue.v1", appeal.id)) == 1
    # And passes with "now" later than that find nothing new.
    await _timer(kit, late + timedelta(days=1))
    for appeal in opened:
        assert len(await outbox(kit, "routing.appeal.overdue.v1", appeal.id)) == 1


async def _answered(kit: ServiceContext, **kwargs: object) -> object:
    appeal = await open_appeal(kit, applicant=APPLICANT, author_id=uuid.uuid4(), **kwargs)
    async with kit.unit_of_work() as uow:
        await appeals.record_answer(uow, appeal.id, text="Яма заделана.", outcome="solved")
        await uow.commit()
    return appeal


async def test_a_dispute_opens_a_repeat_appeal_and_tells_the_supervisor(kit: ServiceContext) -> None:
    first = await _answered(kit)
    event = new_event(
        "problems.problem.reopened.v1",
        {
            "problem_id": str(first.problem_id),  # type: ignore[attr-defined]
            "appeal_id": str(first.id),  # type: ignore[attr-defined]
            "reason": "Яму засыпали песком, через неделю она вернулась",
            "reopened_at": datetime.now(UTC).isoformat(),
        },
        source="problems",
    )
    async with kit.unit_of_work() as uow:
        await on_problem_reopened(event, uow)
        await uow.commit()
    rows = await appeals_of_problem(kit, first.problem_id)  # type: ignore[attr-defined]
    assert len(rows) == 2
    repeat = rows[1]
    assert repeat.repeat_of == first.id
    assert repeat.authority_id == first.authority_id
    assert "не согласен" in repeat.reason
    assert "через неделю" in repeat.reason
    [sent] = await outbox(kit, "routing.appeal.sent.v1", repeat.id)
    assert sent["data"]["repeat_of"] == str(first.id)  # type: ignore[attr-defined]
    [escalated] = await outbox(kit, "routing.appeal.escalated.v1", first.id)  # type: ignore[attr-defined]
    assert escalated["data"]["cause"] == "disputed"
    assert escalated["data"]["repeat_appeal_id"] == str(repeat.id)
    assert escalated["data"]["supervisor_id"] == str(demo.authority_id(demo.PROSECUTOR))


async def test_the_supervisor_sees_its_escalations_in_the_cabinet(
    kit: ServiceContext, client: httpx.AsyncClient, gorod_stack: TestStack
) -> None:
    first = await _answered(kit, category_code="yard.greenery")
    event = new_event(
        "problems.problem.reopened.v1",
        {
            "problem_id": str(first.problem_id),
            "reason": "Деревья так и не посадили",
            "reopened_at": datetime.now(UTC).isoformat(),
        },  # type: ignore[attr-defined]
        source="problems",
    )
    async with kit.unit_of_work() as uow:
        await on_problem_reopened(event, uow)
        await uow.commit()
    prosecutor = await bind_official(client, gorod_stack, demo.authority_id(demo.PROSECUTOR), "Помощник прокурора")
    landscaping = await bind_official(client, gorod_stack, demo.authority_id(demo.LANDSCAPING))
    seen = (
        await client.get(
            "/api/v1/cabinet/escalations", params={"limit": 100}, headers=auth(gorod_stack, prosecutor, "official")
        )
    ).json()
    mine = [item for item in seen["items"] if item["appeal_id"] == str(first.id)]  # type: ignore[attr-defined]
    assert len(mine) == 1
    assert mine[0]["cause"] == "disputed"
    assert "applicant" not in mine[0]
    assert "Иван" not in str(mine[0])
    other = (await client.get("/api/v1/cabinet/escalations", headers=auth(gorod_stack, landscaping, "official"))).json()
    assert other["items"] == []


async def test_low_rating_repeats_a_high_one_does_not(kit: ServiceContext) -> None:
    first = await _answered(kit, category_code="waste.dump")
    problem_id = str(first.problem_id)  # type: ignore[attr-defined]
    for rating in (4, 2):
        event = new_event(
            "problems.problem.rated.v1",
            {"problem_id": problem_id, "rating": rating, "rated_at": datetime.now(UTC).isoformat()},
            source="problems",
        )
        async with kit.unit_of_work() as uow:
            await on_problem_rated(event, uow)
            await uow.commit()
        expected = 1 if rating == 4 else 2
        assert len(await appeals_of_problem(kit, problem_id)) == expected
    [escalated] = await outbox(kit, "routing.appeal.escalated.v1", first.id)  # type: ignore[attr-defined]
    assert escalated["data"]["cause"] == "low_rating"


async def test_a_dispute_of_an_unanswered_appeal_opens_nothing(kit: ServiceContext) -> None:
    appeal = await open_appeal(kit)
    event = new_event(
        "problems.problem.reopened.v1",
        {
            "problem_id": str(appeal.problem_id),
            "reason": "Ничего не сделано",
            "reopened_at": datetime.now(UTC).isoformat(),
        },
        source="problems",
    )
    async with kit.unit_of_work() as uow:
        await on_problem_reopened(event, uow)
        await uow.commit()
    assert len(await appeals_of_problem(kit, appeal.problem_id)) == 1


async def test_user_erased_removes_the_applicant_data_through_the_consumer(
    kit: ServiceContext, consumer: ConsumerRunner, publish: Publish
) -> None:
    author = uuid.uuid4()
    appeal = await open_appeal(kit, applicant=APPLICANT, author_id=author)
    other = await open_appeal(kit, applicant={**APPLICANT, "full_name": "Мария Иванова"}, author_id=uuid.uuid4())
    await publish(
        new_event(
            "auth.user.erased.v1", {"user_id": str(author), "erased_at": datetime.now(UTC).isoformat()}, source="auth"
        )
    )

    async def erased() -> bool:
        async with kit.session_factory() as session:
            row = (
                await session.execute(
                    text("SELECT * FROM routing.appeal_applicants WHERE appeal_id = :id"), {"id": appeal.id}
                )
            ).one()
        return row.erased_at is not None

    await eventually(erased)
    async with kit.session_factory() as session:
        mine = (
            await session.execute(
                text("SELECT * FROM routing.appeal_applicants WHERE appeal_id = :id"), {"id": appeal.id}
            )
        ).one()
        theirs = (
            await session.execute(
                text("SELECT * FROM routing.appeal_applicants WHERE appeal_id = :id"), {"id": other.id}
            )
        ).one()
        author_left = (
            await session.execute(text("SELECT count(*) FROM routing.problems WHERE author_id = :a"), {"a": author})
        ).scalar_one()
    assert (mine.full_name, mine.email, mine.postal_address, mine.user_id) == (None, None, None, None)
    assert theirs.full_name == "Мария Иванова"
    assert author_left == 0
    # The handler is harmless when run again.
    async with kit.unit_of_work() as uow:
        await on_user_erased(
            new_event(
                "auth.user.erased.v1",
                {"user_id": str(author), "erased_at": datetime.now(UTC).isoformat()},
                source="auth",
            ),
            uow,
        )
        await uow.commit()
