"""Reporting a problem: who may, validation (422 in Russian, nothing half-saved), Idempotency-Key, events
against their contracts, pre-moderation, duplicates, supports, reading one problem."""

from __future__ import annotations

import inspect
import uuid
from typing import Any

import httpx
from fastapi.routing import APIRoute
from sqlalchemy import event as sa_event
from sqlalchemy import text

from problems.api import routers
from servicekit.app import ServiceContext

from .conftest import Report, Tokens, check_contract, outbox_events, report_body, somewhere


async def _count(kit: ServiceContext, sql: str, **params: object) -> int:
    async with kit.engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def test_report_publishes_with_events(client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens) -> None:
    user = uuid.uuid4()
    response = await client.post("/api/v1/problems", json=report_body(), headers=auth("citizen", subject=user))
    assert response.status_code == 201, response.text
    problem = response.json()
    assert response.headers["location"] == f"/api/v1/problems/{problem['id']}"
    assert problem["status"] == "published"
    assert problem["status_name"] == "Опубликована"
    assert problem["author"] == {"display_name": "Анна Ж."}
    assert problem["is_mine"] is True
    assert problem["extra"] == {"depth_cm": 12, "lane": "road"}
    assert [step["status"] for step in problem["timeline"]] == ["published"]

    events = await outbox_events(kit, problem["id"])
    assert [e["type"] for e in events] == [
        "ru.gorod.problems.problem.reported.v1",
        "ru.gorod.problems.problem.published.v1",
    ]
    for event in events:
        check_contract(event)
        assert event["source"] == "problems"
        assert event["subject"] == problem["id"]
    published = events[1]["data"]
    assert published["applicant"] == {"full_name": "Анна Жителева", "email": "anna@example.org", "postal_address": None}
    assert published["author_id"] == str(user)
    assert published["category_code"] == "roads.pothole"

    seen = await client.get(f"/api/v1/problems/{problem['id']}")
    assert seen.status_code == 200
    assert seen.json()["title"] == problem["title"]
    assert seen.json()["is_mine"] is False


async def test_who_may_report(client: httpx.AsyncClient, auth: Tokens) -> None:
    assert (await client.post("/api/v1/problems", json=report_body())).status_code == 401
    official = await client.post("/api/v1/problems", json=report_body(), headers=auth("official"))
    assert official.status_code == 403
    volunteering = report_body(map="volunteering", category="volunteer.help", extra={})
    citizen = await client.post("/api/v1/problems", json=volunteering, headers=auth("citizen"))
    assert citizen.status_code == 403
    assert "добровол" in citizen.json()["detail"]
    volunteer = await client.post("/api/v1/problems", json=volunteering, headers=auth("citizen", "volunteer"))
    assert volunteer.status_code == 201
    assert volunteer.json()["status"] == "moderation"  # the volunteering map is pre-moderated

    partner = auth(subject="partner-app", scopes=("problems:write",))
    on_behalf = await client.post("/api/v1/problems", json=report_body(), headers=partner)
    assert on_behalf.status_code == 201
    assert on_behalf.json()["is_mine"] is False


async def test_validation_names_each_field_and_saves_nothing(
    client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens
) -> None:
    headers = auth("citizen")
    before = await _count(kit, "SELECT count(*) FROM problems.problems")
    body = report_body(
        point={"lon": 2.35, "lat": 48.85},  # Paris
        category="roads.pothole",
        extra={"depth_cm": "глубокая", "colour": "red"},  # wrong type, unknown field, and `lane` missing
        anonymous=True,  # not allowed for potholes
        photo_ids=[str(uuid.uuid4())],
    )
    response = await client.post("/api/v1/problems", json=body, headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert errors["body.point"] == "Точка должна находиться на территории России."
    assert errors["body.extra.depth_cm"] == "Ожидается число."
    assert errors["body.extra.colour"] == "В этой категории нет такого поля."
    assert errors["body.extra.lane"] == "Заполните поле «Где яма»."
    assert errors["body.anonymous"] == "В этой категории нельзя сообщать анонимно."
    assert "body.photo_ids" in errors

    too_long = await client.post("/api/v1/problems", json=report_body(description="я" * 4001), headers=headers)
    assert too_long.status_code == 422
    assert too_long.json()["errors"][0]["field"] == "body.description"
    unknown = await client.post("/api/v1/problems", json=report_body(category="no.such"), headers=headers)
    assert {e["field"] for e in unknown.json()["errors"]} == {"body.category"}
    wrong_map = await client.post("/api/v1/problems", json=report_body(category="volunteer.help"), headers=headers)
    assert wrong_map.json()["errors"][0]["message"] == "Эта категория относится к другой карте."
    chukotka = await client.post(
        "/api/v1/problems",
        json=report_body(point={"lon": -172.5, "lat": 64.4}, category="ecology.air", extra={}),
        headers=headers,
    )
    assert chukotka.status_code == 201  # east of the antimeridian is Russia too

    assert await _count(kit, "SELECT count(*) FROM problems.problems") == before + 1


async def test_idempotency_key_creates_one_problem(
    client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens
) -> None:
    headers = {**auth("citizen"), "Idempotency-Key": str(uuid.uuid4())}
    body = report_body()
    first = await client.post("/api/v1/problems", json=body, headers=headers)
    second = await client.post("/api/v1/problems", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert await _count(kit, "SELECT count(*) FROM problems.problems WHERE id = :id", id=first.json()["id"]) == 1
    assert len(await outbox_events(kit, first.json()["id"])) == 2
    other = await client.post("/api/v1/problems", json=report_body(title="Другая яма"), headers=headers)
    assert other.status_code == 422  # the same key for another request


async def test_anonymous_report(client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens) -> None:
    body = report_body(category="waste.dump", extra={"volume_m3": 3, "waste_kinds": ["tyres", "tyres"]}, anonymous=True)
    response = await client.post("/api/v1/problems", json=body, headers=auth("citizen"))
    assert response.status_code == 201, response.text
    problem = response.json()
    assert problem["author"] is None
    assert problem["anonymous"] is True
    assert problem["extra"] == {"volume_m3": 3, "waste_kinds": ["tyres"]}
    published = (await outbox_events(kit, problem["id"]))[1]["data"]
    assert published["applicant"] is None
    assert published["author_id"] is None
    assert await _count(kit, "SELECT count(*) FROM problems.applicants WHERE problem_id = :id", id=problem["id"]) == 0


async def test_premoderation_by_territory(client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens) -> None:
    territory = uuid.uuid5(uuid.NAMESPACE_URL, "gorod:territory:46738000103")  # Голутвин
    operator = auth("operator")
    path = f"/admin/v1/problems/territories/{territory}"
    assert (await client.patch(path, json={"premoderation": True}, headers=operator)).status_code == 200
    try:
        inside = report_body(point={"lon": 38.74, "lat": 55.06})
        response = await client.post("/api/v1/problems", json=inside, headers=auth("citizen"))
        problem = response.json()
        assert problem["status"] == "moderation"
        assert problem["published_at"] is None
        events = await outbox_events(kit, problem["id"])
        assert [e["type"].split(".")[-2] for e in events] == ["reported"]
        assert events[0]["data"]["status"] == "moderation"
        check_contract(events[0])
        assert (await client.get(f"/api/v1/problems/{problem['id']}")).status_code == 404  # not public yet
        assert (await client.get(f"/api/v1/problems/{problem['id']}", headers=auth("moderator"))).status_code == 200
        outside = await client.post("/api/v1/problems", json=report_body(), headers=auth("citizen"))
        assert outside.json()["status"] == "published"
    finally:
        await client.patch(path, json={"premoderation": False}, headers=operator)


async def test_private_category_visible_to_author_and_staff(
    client: httpx.AsyncClient, report: Report, auth: Tokens
) -> None:
    problem, author = await report(category="housing.heating", extra={"utility": "heating", "apartment": "12"})
    path = f"/api/v1/problems/{problem['id']}"
    assert (await client.get(path)).status_code == 404
    assert (await client.get(path, headers=auth("citizen"))).status_code == 404
    assert (await client.get(path, headers=author)).status_code == 200
    assert (await client.get(path, headers=auth("moderator"))).status_code == 200


async def test_duplicates_within_the_category_radius(client: httpx.AsyncClient, report: Report) -> None:
    here = somewhere()
    near = {"lon": here["lon"] + 0.001, "lat": here["lat"]}  # ~60 m east
    far = {"lon": here["lon"] + 0.01, "lat": here["lat"]}  # ~600 m: beyond the pothole radius (150 m)
    close, _ = await report(point=near)
    await report(point=far)
    await report(point=here, category="lighting.street", extra={"lighting_type": "pole"})
    response = await client.get(
        "/api/v1/problems/duplicates", params={"category": "roads.pothole", "lon": here["lon"], "lat": here["lat"]}
    )
    assert response.status_code == 200
    found = response.json()
    assert found["radius_m"] == 150
    assert [item["id"] for item in found["items"]] == [close["id"]]
    assert 30 < found["items"][0]["distance_m"] < 100
    bad = await client.get("/api/v1/problems/duplicates", params={"category": "x", "lon": 1, "lat": 1})
    assert bad.status_code == 422


async def test_support_once_per_user(client: httpx.AsyncClient, report: Report, auth: Tokens) -> None:
    problem, _author = await report()
    path = f"/api/v1/problems/{problem['id']}/supports"
    assert (await client.post(path)).status_code == 401
    fan = auth("citizen")
    first = await client.post(path, headers=fan)
    assert first.status_code == 201
    assert first.json() == {"supported": True, "supports_count": 1}
    again = await client.post(path, headers=fan)
    assert again.status_code == 200
    assert again.json()["supports_count"] == 1
    other = await client.post(path, headers=auth("citizen"))
    assert other.json()["supports_count"] == 2
    view = (await client.get(f"/api/v1/problems/{problem['id']}", headers=fan)).json()
    assert view["supports_count"] == 2
    assert view["supported_by_me"] is True
    withdrawn = await client.delete(path, headers=fan)
    assert withdrawn.json() == {"supported": False, "supports_count": 1}
    partner = await client.post(path, headers=auth(subject="partner-app", scopes=("problems:write",)))
    assert partner.status_code == 403


async def test_unknown_problem_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/problems/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["detail"] == "Проблема не найдена."


def _sync_dependencies(dependant: Any) -> list[str]:
    found = []
    for dependency in dependant.dependencies:
        if dependency.call is not None and not inspect.iscoroutinefunction(dependency.call):
            found.append(getattr(dependency.call, "__qualname__", repr(dependency.call)))
        found += _sync_dependencies(dependency)
    return found


def test_the_intake_and_the_map_hand_nothing_to_the_thread_pool() -> None:
    """FastAPI runs a plain ``def`` dependency in its thread pool: a hand-off to another thread and back per
    request and dependency, which cost the intake more CPU than the dependencies themselves."""
    routes = {
        (method, route.path): route
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    for key in (
        ("POST", "/api/v1/problems"),
        ("GET", "/api/v1/problems/map"),
        ("GET", "/api/v1/problems/{problem_id:uuid}"),
    ):
        route = routes[key]
        assert inspect.iscoroutinefunction(route.endpoint), key
        assert _sync_dependencies(route.dependant) == [], key


async def test_a_report_is_one_statement_plus_the_outbox(
    client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens
) -> None:
    """The problem, its first timeline step and its applicant go in one statement; the events in one more."""
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(None, 1)[0])

    sa_event.listen(kit.engine.sync_engine, "before_cursor_execute", seen)
    try:
        await client.get("/api/v1/problems/map", params={"bbox": "30,50,40,60", "zoom": 5})  # the catalog cached
        await client.post("/api/v1/problems", json=report_body(), headers=auth("citizen"))  # the catalog cached
        statements.clear()
        response = await client.post("/api/v1/problems", json=report_body(), headers=auth("citizen"))
    finally:
        sa_event.remove(kit.engine.sync_engine, "before_cursor_execute", seen)
    assert response.status_code == 201, response.text
    assert statements == ["WITH", "INSERT"]
    # The applicant did land: the author's name is read back from its row.
    seen_later = await client.get(f"/api/v1/problems/{response.json()['id']}")
    assert seen_later.json()["author"] == {"display_name": "Анна Ж."}
    assert (
        await _count(kit, "SELECT count(*) FROM problems.applicants WHERE problem_id = :id", id=response.json()["id"])
        == 1
    )
