"""The author's own report: edit before moderation, withdraw, anonymise; auth.user.erased.v1 anonymises all."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import text

from problems.events.consumed import on_user_erased
from servicekit.app import ServiceContext
from servicekit.events import new_event

from .conftest import Report, Tokens, check_contract, outbox_events

VOLUNTEERING = {"map": "volunteering", "category": "volunteer.help", "extra": {}}


async def test_edit_only_before_moderation(client: httpx.AsyncClient, report: Report, auth: Tokens) -> None:
    waiting, author = await report(headers=auth("citizen", "volunteer"), **VOLUNTEERING)
    path = f"/api/v1/problems/{waiting['id']}"
    assert (
        await client.patch(path, json={"title": "Чужая правка"}, headers=auth("citizen", "moderator"))
    ).status_code == 403
    edited = await client.patch(
        path, json={"title": "Нужна помощь с уборкой", "extra": {"volunteers_needed": 10}}, headers=author
    )
    assert edited.status_code == 200
    assert edited.json()["title"] == "Нужна помощь с уборкой"
    assert edited.json()["extra"] == {"volunteers_needed": 10}
    bad = await client.patch(path, json={"extra": {"volunteers_needed": "много"}}, headers=author)
    assert bad.status_code == 422
    public, owner = await report()
    late = await client.patch(f"/api/v1/problems/{public['id']}", json={"title": "Поздно"}, headers=owner)
    assert late.status_code == 409


async def test_withdraw(client: httpx.AsyncClient, kit: ServiceContext, report: Report, auth: Tokens) -> None:
    problem, author = await report()
    path = f"/api/v1/problems/{problem['id']}/withdraw"
    assert (await client.post(path, json={})).status_code == 401
    assert (await client.post(path, json={}, headers=auth("citizen"))).status_code == 403
    withdrawn = await client.post(path, json={"reason": "Уже починили сами"}, headers=author)
    assert withdrawn.status_code == 200
    assert withdrawn.json()["status"] == "withdrawn"
    assert (await client.get(f"/api/v1/problems/{problem['id']}")).status_code == 404
    event = (await outbox_events(kit, problem["id"]))[-1]
    check_contract(event)
    assert event["data"]["to_status"] == "withdrawn"
    assert event["data"]["reason"] == "Уже починили сами"
    assert (await client.post(path, json={}, headers=author)).status_code == 409


async def test_anonymise_own_report(
    client: httpx.AsyncClient, kit: ServiceContext, report: Report, auth: Tokens
) -> None:
    problem, author = await report()
    assert problem["author"] == {"display_name": "Анна Ж."}
    assert (
        await client.post(f"/api/v1/problems/{problem['id']}/anonymise", headers=auth("citizen"))
    ).status_code == 403
    done = await client.post(f"/api/v1/problems/{problem['id']}/anonymise", headers=author)
    assert done.status_code == 200
    assert done.json()["author"] is None
    assert done.json()["is_mine"] is True
    public = (await client.get(f"/api/v1/problems/{problem['id']}")).json()
    assert public["author"] is None
    assert public["anonymous"] is True


async def test_user_erased_anonymises_everything(
    client: httpx.AsyncClient, kit: ServiceContext, report: Report, auth: Tokens
) -> None:
    user = uuid.uuid4()
    headers = auth("citizen", subject=user)
    problem, _ = await report(headers=headers)
    other, _ = await report()
    comment = (
        await client.post(
            f"/api/v1/problems/{other['id']}/comments",
            json={"body": "Согласна", "display_name": "Анна"},
            headers=headers,
        )
    ).json()
    await client.post(f"/api/v1/problems/{other['id']}/supports", headers=headers)

    event = new_event(
        "auth.user.erased.v1",
        {"user_id": str(user), "erased_at": datetime.now(UTC).isoformat()},
        source="auth",
        subject=str(user),
    )
    check_contract(event.model_dump(mode="json"))
    async with kit.unit_of_work() as uow:
        await on_user_erased(event, uow)
        await uow.commit()

    view = (await client.get(f"/api/v1/problems/{problem['id']}")).json()
    assert view["author"] is None
    assert view["anonymous"] is True
    comments = (await client.get(f"/api/v1/problems/{other['id']}/comments")).json()["items"]
    erased = next(c for c in comments if c["id"] == comment["id"])
    assert erased["author"] is None
    assert erased["body"] == "Согласна"
    async with kit.engine.connect() as conn:
        left = await conn.execute(
            text(
                "SELECT (SELECT count(*) FROM problems.applicants WHERE user_id = :u)"
                " + (SELECT count(*) FROM problems.problems WHERE author_id = :u)"
                " + (SELECT count(*) FROM problems.comments WHERE author_id = :u)"
                " + (SELECT count(*) FROM problems.supports WHERE user_id = :u)"
            ),
            {"u": user},
        )
        assert left.scalar_one() == 0
    # the erased user's token no longer owns the report
    assert (
        await client.post(f"/api/v1/problems/{problem['id']}/withdraw", json={}, headers=headers)
    ).status_code == 403
