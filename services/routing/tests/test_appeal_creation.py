"""problems.problem.published.v1 → an appeal to the right authority, through the real consumer path."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import text

from routing import demo
from servicekit.app import ServiceContext
from servicekit.consumer import ConsumerRunner

from .conftest import Publish, appeals_of_problem, eventually, outbox, published_event

APPLICANT = {"full_name": "Анна Смирнова", "email": "anna@example.org", "postal_address": "Коломна, ул. Ленина, 1"}


async def _created(kit: ServiceContext, problem_id: str) -> Any:
    async def found() -> Any:
        rows = await appeals_of_problem(kit, problem_id)
        return rows[0] if rows else None

    return await eventually(found)


async def test_pothole_goes_to_the_roads_department_with_a_reason(
    kit: ServiceContext, consumer: ConsumerRunner, publish: Publish
) -> None:
    author = uuid.uuid4()
    event = published_event(lon=38.82, lat=55.10, author_id=author, applicant=APPLICANT)
    await publish(event)
    appeal = await _created(kit, event.data["problem_id"])
    assert appeal.authority_id == demo.authority_id(demo.ROADS)
    assert appeal.territory_id == demo.territory_id("46738000102")  # Колычёво: the most specific territory
    assert appeal.status == "sent"
    assert appeal.channel == "cabinet"
    assert "Колычёво" in appeal.reason
    assert "Управление дорожного хозяйства и транспорта" in appeal.reason
    assert len(appeal.reply_token) >= 32
    [sent] = await outbox(kit, "routing.appeal.sent.v1", appeal.id)
    assert sent["data"]["authority_name"] == "Управление дорожного хозяйства и транспорта"
    assert sent["data"]["territory_oktmo"] == "46738000102"
    assert sent["data"]["reason"] == appeal.reason
    assert sent["data"]["repeat_of"] is None
    async with kit.session_factory() as session:
        applicant = (
            await session.execute(
                text("SELECT * FROM routing.appeal_applicants WHERE appeal_id = :id"), {"id": appeal.id}
            )
        ).one()
    assert (applicant.full_name, applicant.email, applicant.user_id) == ("Анна Смирнова", "anna@example.org", author)


async def test_a_category_without_a_rule_goes_to_the_administration(
    kit: ServiceContext, consumer: ConsumerRunner, publish: Publish
) -> None:
    event = published_event(lon=38.72, lat=55.05, category_code="noise.night")
    await publish(event)
    appeal = await _created(kit, event.data["problem_id"])
    assert appeal.authority_id == demo.authority_id(demo.ADMINISTRATION)
    assert appeal.territory_id == demo.territory_id("46738000103")  # Голутвин
    assert "не задано" in appeal.reason


async def test_point_outside_every_territory_and_volunteer_map_open_nothing(
    kit: ServiceContext, consumer: ConsumerRunner, publish: Publish
) -> None:
    outside = published_event(lon=30.3, lat=59.9)  # Санкт-Петербург
    volunteer = published_event(category_code="volunteer.help", map_code="volunteering")
    marker = published_event(lon=38.75, lat=55.12)
    for event in (outside, volunteer, marker):
        await publish(event)
    await _created(kit, marker.data["problem_id"])  # handled after the other two (same queue, but be lenient)

    async def copies() -> bool:
        async with kit.session_factory() as session:
            n = (
                await session.execute(
                    text("SELECT count(*) FROM routing.problems WHERE id = :id"),
                    {"id": uuid.UUID(outside.data["problem_id"])},
                )
            ).scalar_one()
        return bool(n)

    await eventually(copies)
    assert await appeals_of_problem(kit, outside.data["problem_id"]) == []
    assert await appeals_of_problem(kit, volunteer.data["problem_id"]) == []


async def test_the_same_event_twice_and_a_republication_make_one_appeal(
    kit: ServiceContext, consumer: ConsumerRunner, publish: Publish
) -> None:
    event = published_event()
    await publish(event)
    await publish(event)
    again = published_event(problem_id=uuid.UUID(event.data["problem_id"]))
    await publish(again)
    await _created(kit, event.data["problem_id"])

    async def all_handled() -> bool:
        async with kit.session_factory() as session:
            n = (
                await session.execute(
                    text("SELECT count(*) FROM routing.inbox WHERE event_id IN (:a, :b)"),
                    {"a": event.id, "b": again.id},
                )
            ).scalar_one()
        return n == 2

    await eventually(all_handled)
    assert len(await appeals_of_problem(kit, event.data["problem_id"])) == 1
