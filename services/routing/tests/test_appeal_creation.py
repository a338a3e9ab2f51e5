"""problems.problem.published.v1 → an appeal to the right authority, through the real consumer path."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from routing import demo
from routing.domain.jurisdiction import Decision, NoAuthority
from routing.usecases import appeals
from routing.usecases.appeals import AuthorityFacts
from servicekit.app import ServiceContext
from servicekit.consumer import ConsumerRunner
from servicekit.uow import UnitOfWork

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


async def test_the_one_statement_resolution_follows_rules_activity_and_specificity(
    uow: Callable[[], UnitOfWork],
) -> None:
    """``resolve_with_authority`` (one statement) against the demo town, changed inside a unit of work that is
    rolled back: the most specific rule wins, an inactive authority is passed over, the authority's facts
    (channel, calendar) are those of the authority decided."""
    roads, administration = demo.authority_id(demo.ROADS), demo.authority_id(demo.ADMINISTRATION)
    kolychevo = demo.territory_id("46738000102")

    async def resolve(work: UnitOfWork) -> tuple[Decision, AuthorityFacts]:
        return await appeals.resolve_with_authority(work, 38.82, 55.10, "roads.pothole", "Яма на дороге")

    async with uow() as work:
        decision, authority = await resolve(work)
        assert (decision.authority_id, decision.location.id) == (roads, kolychevo)
        assert decision.territory.id == demo.territory_id(demo.TOWN)  # the town's rule, the district has none
        assert (authority.id, authority.name, authority.channel) == (roads, decision.authority_name, "cabinet")
        assert (authority.timezone, authority.calendar_country) == ("Europe/Moscow", "RU")

        await work.session.execute(
            text(
                "INSERT INTO routing.jurisdiction_rules (id, territory_id, category_code, authority_id, note) "
                "VALUES (:id, :territory, 'roads.pothole', :authority, 'постановление № 1')"
            ),
            {"id": uuid.uuid4(), "territory": kolychevo, "authority": demo.authority_id(demo.LANDSCAPING)},
        )
        decision, authority = await resolve(work)
        assert decision.authority_id == authority.id == demo.authority_id(demo.LANDSCAPING)
        assert decision.territory.id == kolychevo
        assert "Основание: постановление № 1." in decision.reason

        await work.session.execute(
            text("UPDATE routing.authorities SET active = false WHERE id = :id"),
            {"id": demo.authority_id(demo.LANDSCAPING)},
        )
        decision, authority = await resolve(work)
        assert decision.authority_id == authority.id == roads  # the inactive one's rule is skipped: the town's

        await work.session.execute(
            text("UPDATE routing.authorities SET active = false, channel = 'cabinet' WHERE id = :id"), {"id": roads}
        )
        await work.session.execute(
            text("UPDATE routing.authorities SET channel = 'email', email = 'adm@example.org' WHERE id = :id"),
            {"id": administration},
        )
        decision, authority = await resolve(work)
        assert (decision.authority_id, authority.id, authority.channel) == (administration, administration, "email")
        assert "не задано" in decision.reason

        await work.session.execute(
            text("UPDATE routing.authorities SET active = false WHERE id = :id"), {"id": administration}
        )
        with pytest.raises(NoAuthority):
            await resolve(work)
        # leaving without commit rolls every change back
