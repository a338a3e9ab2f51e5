"""The officials' cabinet: the lifecycle through the API, and an official of one authority reaches nothing of
another's."""

from __future__ import annotations

import uuid
from datetime import date

import httpx
from sqlalchemy import text

from routing import demo
from servicekit.app import ServiceContext
from servicekit.testing.plugin import TestStack

from .conftest import outbox
from .helpers import auth, bind_official, open_appeal

ROADS = demo.authority_id(demo.ROADS)
LANDSCAPING = demo.authority_id(demo.LANDSCAPING)
ADMINISTRATION = demo.authority_id(demo.ADMINISTRATION)


async def test_cabinet_needs_an_official_bound_to_an_authority(
    client: httpx.AsyncClient, gorod_stack: TestStack
) -> None:
    assert (await client.get("/api/v1/cabinet/appeals")).status_code == 401
    citizen = auth(gorod_stack, uuid.uuid4(), "citizen")
    assert (await client.get("/api/v1/cabinet/appeals", headers=citizen)).status_code == 403
    unbound = auth(gorod_stack, uuid.uuid4(), "official")
    response = await client.get("/api/v1/cabinet/appeals", headers=unbound)
    assert response.status_code == 403
    assert "приглашение" in response.json()["detail"]
    assert (
        await client.post("/api/v1/cabinet/invitations/accept", json={"token": "x" * 20}, headers=citizen)
    ).status_code == 403


async def test_an_invitation_works_once(client: httpx.AsyncClient, gorod_stack: TestStack) -> None:
    operator = auth(gorod_stack, uuid.uuid4(), "operator")
    token = (await client.post(f"/admin/v1/routing/authorities/{ROADS}/invitations", json={}, headers=operator)).json()[
        "token"
    ]
    first = await client.post(
        "/api/v1/cabinet/invitations/accept", json={"token": token}, headers=auth(gorod_stack, uuid.uuid4(), "official")
    )
    assert first.status_code == 200
    second = await client.post(
        "/api/v1/cabinet/invitations/accept", json={"token": token}, headers=auth(gorod_stack, uuid.uuid4(), "official")
    )
    assert second.status_code == 404


async def test_lifecycle_register_assign_extend_answer(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    official = await bind_official(client, gorod_stack, ADMINISTRATION, "Начальник отдела по работе с обращениями")
    headers = auth(gorod_stack, official, "official")
    appeal = await open_appeal(kit, category_code="ecology.air", lon=38.75, lat=55.10)
    assert appeal.authority_id == ADMINISTRATION

    queue = (await client.get("/api/v1/cabinet/appeals", params={"status": "sent"}, headers=headers)).json()
    assert str(appeal.id) in [item["id"] for item in queue["items"]]

    early = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/assign", json={"department_id": str(LANDSCAPING)}, headers=headers
    )
    assert early.status_code == 409
    assert "зарегистрируйте" in early.json()["detail"]

    registered = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/register", json={"registration_number": "КЛМ-2026/1"}, headers=headers
    )
    assert registered.status_code == 204
    again = await client.post(f"/api/v1/cabinet/appeals/{appeal.id}/register", json={}, headers=headers)
    assert again.status_code == 409
    [event] = await outbox(kit, "routing.appeal.registered.v1", appeal.id)
    assert event["data"]["registration_number"] == "КЛМ-2026/1"

    not_ours = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/assign",
        json={"department_id": str(demo.authority_id(demo.PROSECUTOR))},
        headers=headers,
    )
    assert not_ours.status_code == 422
    assigned = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/assign", json={"department_id": str(LANDSCAPING)}, headers=headers
    )
    assert assigned.status_code == 204
    [event] = await outbox(kit, "routing.appeal.assigned.v1", appeal.id)
    assert event["data"]["department_id"] == str(LANDSCAPING)
    assert event["data"]["assignee_name"] == "МКУ «Благоустройство Коломны»"

    extended = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/extend",
        json={"days": 20, "reason": "Нужна лабораторная проба воздуха"},
        headers=headers,
    )
    assert extended.status_code == 200
    twice = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/extend", json={"days": 5, "reason": "Ещё"}, headers=headers
    )
    assert twice.status_code == 409
    assert "один раз" in twice.json()["detail"]
    [event] = await outbox(kit, "routing.appeal.extended.v1", appeal.id)
    assert event["data"]["extended_by_days"] == 20

    note = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/notes",
        json={"text": "Позвонить в лабораторию"},
        headers={**headers, "Idempotency-Key": "n-1"},
    )
    replay = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/notes",
        json={"text": "Позвонить в лабораторию"},
        headers={**headers, "Idempotency-Key": "n-1"},
    )
    assert note.status_code == replay.status_code == 201
    assert note.json() == replay.json()

    bad = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/answer",
        json={"text": "Запланировано", "outcome": "planned"},
        headers=headers,
    )
    assert bad.status_code == 409
    assert "дату" in bad.json()["detail"]
    answered = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/answer",
        json={
            "text": "Проведены замеры, превышений не выявлено; проверка предприятия запланирована.",
            "outcome": "planned",
            "planned_for": "2027-03-01",
            "answered_by": "Отдел экологии",
            "attachment_urls": ["https://kolomnagrad.example/act-17.pdf"],
        },
        headers=headers,
    )
    assert answered.status_code == 201, answered.text
    [event] = await outbox(kit, "routing.appeal.answered.v1", appeal.id)
    assert event["data"]["outcome"] == "planned"
    assert event["data"]["planned_for"] == "2027-03-01"
    assert event["data"]["on_time"] is True
    assert event["data"]["attachments"] == ["https://kolomnagrad.example/act-17.pdf"]

    detail = (await client.get(f"/api/v1/cabinet/appeals/{appeal.id}", headers=headers)).json()
    assert detail["status"] == "answered"
    assert detail["answer"]["planned_for"] == "2027-03-01"
    assert [n["text"] for n in detail["notes"]] == ["Позвонить в лабораторию"]
    kinds = [step["kind"] for step in detail["timeline"]]
    assert kinds == ["sent", "delivered", "registered", "assigned", "extended", "answered"]


async def test_answer_with_uploaded_files(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    official = await bind_official(client, gorod_stack, ROADS)
    headers = auth(gorod_stack, official, "official")
    appeal = await open_appeal(kit)
    response = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/answer/upload",
        data={"text": "Яма заделана литым асфальтом.", "outcome": "solved"},
        files=[("files", ("акт.pdf", b"%PDF-1.4 demo", "application/pdf"))],
        headers=headers,
    )
    assert response.status_code == 201, response.text
    detail = (await client.get(f"/api/v1/cabinet/appeals/{appeal.id}", headers=headers)).json()
    [attachment] = detail["attachments"]
    assert attachment["filename"] == "акт.pdf"
    assert attachment["size"] == len(b"%PDF-1.4 demo")
    download = await client.get(attachment["url"], headers=headers)
    assert download.content == b"%PDF-1.4 demo"
    assert detail["timeline"][-2]["kind"] == "registered"  # answered straight away: registered implicitly


async def test_an_official_of_one_authority_reaches_nothing_of_another(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    roads_official = await bind_official(client, gorod_stack, ROADS)
    other = await bind_official(client, gorod_stack, LANDSCAPING)
    mine = auth(gorod_stack, roads_official, "official")
    theirs = auth(gorod_stack, other, "official")
    appeal = await open_appeal(kit)  # a pothole: the roads department's
    assert appeal.authority_id == ROADS
    template = await client.post("/api/v1/cabinet/templates", json={"title": "Яма", "text": "Заделаем."}, headers=mine)
    assert template.status_code == 201
    template_id = template.json()["id"]

    queue = (await client.get("/api/v1/cabinet/appeals", params={"limit": 100}, headers=theirs)).json()
    assert str(appeal.id) not in [item["id"] for item in queue["items"]]
    by_filter = await client.get("/api/v1/cabinet/appeals", params={"authority_id": str(ROADS)}, headers=theirs)
    assert by_filter.json()["items"] == []
    base = f"/api/v1/cabinet/appeals/{appeal.id}"
    attempts = [
        ("GET", base, None),
        ("POST", f"{base}/register", {}),
        ("POST", f"{base}/assign", {"assignee_user_id": str(other)}),
        ("POST", f"{base}/answer", {"text": "Не наше", "outcome": "solved"}),
        ("POST", f"{base}/forward", {"to_authority_id": str(LANDSCAPING), "reason": "Не наше"}),
        ("POST", f"{base}/extend", {"days": 5, "reason": "Не наше"}),
        ("POST", f"{base}/notes", {"text": "Подглядываю"}),
        ("GET", f"{base}/attachments/{uuid.uuid4()}", None),
        ("PUT", f"/api/v1/cabinet/templates/{template_id}", {"title": "x", "text": "y"}),
        ("DELETE", f"/api/v1/cabinet/templates/{template_id}", None),
    ]
    for method, url, body in attempts:
        response = await client.request(method, url, json=body, headers=theirs)
        assert response.status_code == 404, (method, url, response.status_code)
    bulk = await client.post("/api/v1/cabinet/bulk/register", json={"appeal_ids": [str(appeal.id)]}, headers=theirs)
    assert bulk.json()["done"] == []
    assert bulk.json()["failed"][0]["appeal_id"] == str(appeal.id)
    foreign_template = await client.post(
        "/api/v1/cabinet/templates", json={"authority_id": str(ROADS), "title": "x", "text": "y"}, headers=theirs
    )
    assert foreign_template.status_code == 403
    templates = (await client.get("/api/v1/cabinet/templates", headers=theirs)).json()["items"]
    assert template_id not in [t["id"] for t in templates]

    async with kit.session_factory() as session:
        row = (
            await session.execute(text("SELECT status FROM routing.appeals WHERE id = :id"), {"id": appeal.id})
        ).one()
        notes = (
            await session.execute(
                text("SELECT count(*) FROM routing.appeal_notes WHERE appeal_id = :id"), {"id": appeal.id}
            )
        ).scalar_one()
    assert row.status == "sent"
    assert notes == 0
    # ...while its own official sees and works it
    assert (await client.get(base, headers=mine)).status_code == 200
    assert (await client.post(f"{base}/register", json={}, headers=mine)).status_code == 204


async def test_bulk_register_and_assign_to_a_colleague(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    lead = await bind_official(client, gorod_stack, ROADS, "Начальник управления")
    colleague = await bind_official(client, gorod_stack, ROADS, "Инженер")
    headers = auth(gorod_stack, lead, "official")
    first, second = await open_appeal(kit), await open_appeal(kit, category_code="roads.signs")
    ids = [str(first.id), str(second.id)]
    registered = (await client.post("/api/v1/cabinet/bulk/register", json={"appeal_ids": ids}, headers=headers)).json()
    assert sorted(registered["done"]) == sorted(ids)
    assert registered["failed"] == []
    assigned = (
        await client.post(
            "/api/v1/cabinet/bulk/assign", json={"appeal_ids": ids, "assignee_user_id": str(colleague)}, headers=headers
        )
    ).json()
    assert sorted(assigned["done"]) == sorted(ids)
    mine = await client.get(
        "/api/v1/cabinet/appeals",
        params={"assignee_user_id": str(colleague)},
        headers=auth(gorod_stack, colleague, "official"),
    )
    assert sorted(item["id"] for item in mine.json()["items"]) == sorted(ids)
    [event] = await outbox(kit, "routing.appeal.assigned.v1", first.id)
    assert event["data"]["assignee_name"] == "Инженер"


async def test_queue_is_sorted_by_deadline_and_paginated(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    official = await bind_official(client, gorod_stack, LANDSCAPING)
    headers = auth(gorod_stack, official, "official")
    for _ in range(3):
        await open_appeal(kit, category_code="waste.overflow")
    seen: list[dict[str, str]] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/cabinet/appeals", params=params, headers=headers)).json()
        seen.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert len(seen) >= 3
    assert len({item["id"] for item in seen}) == len(seen)
    dues = [item["due_at"] for item in seen]
    assert dues == sorted(dues)


async def test_forward_within_seven_days(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    official = await bind_official(client, gorod_stack, ROADS)
    headers = auth(gorod_stack, official, "official")
    appeal = await open_appeal(kit, category_code="transport.route")
    unregistered = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/forward",
        json={"to_authority_id": str(ADMINISTRATION), "reason": "x"},
        headers=headers,
    )
    assert unregistered.status_code == 409
    await client.post(f"/api/v1/cabinet/appeals/{appeal.id}/register", json={}, headers=headers)
    forwarded = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/forward",
        json={"to_authority_id": str(ADMINISTRATION), "reason": "Маршруты утверждает администрация"},
        headers=headers,
    )
    assert forwarded.status_code == 201
    new_id = forwarded.json()["id"]
    [event] = await outbox(kit, "routing.appeal.forwarded.v1", appeal.id)
    assert event["data"]["to_authority_id"] == str(ADMINISTRATION)
    [sent] = await outbox(kit, "routing.appeal.sent.v1", new_id)
    assert "переадресовано" in sent["data"]["reason"]
    assert sent["data"]["authority_id"] == str(ADMINISTRATION)
    gone = await client.get(f"/api/v1/cabinet/appeals/{new_id}", headers=headers)
    assert gone.status_code == 404  # the new appeal is the administration's


async def test_validation_errors_are_russian_problems(
    client: httpx.AsyncClient, gorod_stack: TestStack, kit: ServiceContext
) -> None:
    official = await bind_official(client, gorod_stack, ROADS)
    headers = auth(gorod_stack, official, "official")
    appeal = await open_appeal(kit)
    response = await client.post(
        f"/api/v1/cabinet/appeals/{appeal.id}/extend", json={"days": 45, "reason": ""}, headers=headers
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in response.json()["errors"]} == {"body.days", "body.reason"}
    assert date.today()  # keeps the import honest for readers: deadlines are dates
