# ruff: noqa: F811  (pytest fixtures imported from test_reading_fixtures are parameters here)
"""Subscriptions over HTTP: who may create, list and delete them, validation, idempotency, the merge hook."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from problems.usecases.subscriptions import move_subscriptions
from servicekit.testing.plugin import TestStack

from .test_reading_fixtures import Seed, reading_app, reading_client, reading_kit, reading_settings, seed  # noqa: F401

pytestmark = pytest.mark.integration

URL = "/api/v1/problems/subscriptions"


def _resident(stack: TestStack, user: uuid.UUID, roles: tuple[str, ...] = ("citizen",)) -> dict[str, str]:
    return stack.tokens.bearer("problems", subject=user, roles=list(roles))


async def test_follow_a_problem_once(reading_client: httpx.AsyncClient, seed: Seed, gorod_stack: TestStack) -> None:
    [problem] = await seed.problems({})
    user = uuid.uuid4()
    body = {"kind": "problem", "problem_id": str(problem), "email": "ivan@example.org"}
    first = await reading_client.post(URL, json=body, headers=_resident(gorod_stack, user))
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["kind"] == "problem"
    assert created["problem_id"] == str(problem)
    assert created["email"] == "ivan@example.org"
    assert first.headers["location"] == f"{URL}/{created['id']}"
    again = await reading_client.post(URL, json=body, headers=_resident(gorod_stack, user))
    assert again.status_code == 200
    assert again.json()["id"] == created["id"]


async def test_follow_an_area_and_a_territory_with_idempotency(
    reading_client: httpx.AsyncClient, seed: Seed, gorod_stack: TestStack
) -> None:
    user = uuid.uuid4()
    headers = {**_resident(gorod_stack, user), "Idempotency-Key": str(uuid.uuid4())}
    area = {"kind": "area", "point": {"lon": 38.77, "lat": 55.1}, "radius_m": 500, "email": "a@example.org"}
    first = await reading_client.post(URL, json=area, headers=headers)
    assert first.status_code == 201, first.text
    retry = await reading_client.post(URL, json=area, headers=headers)
    assert retry.status_code == 201
    assert retry.json() == first.json()
    assert first.json()["point"] == {"lon": 38.77, "lat": 55.1}
    reused = await reading_client.post(URL, json={**area, "radius_m": 600}, headers=headers)
    assert reused.status_code == 422
    territory = uuid.uuid4()
    await seed.execute(
        "INSERT INTO problems.territories (id, oktmo, name, level) VALUES (:id, '46738000', 'Коломна', 'city')",
        {"id": territory},
    )
    created = await reading_client.post(
        URL,
        json={"kind": "territory", "territory_id": str(territory), "email": "a@example.org"},
        headers=_resident(gorod_stack, user),
    )
    assert created.status_code == 201, created.text
    unknown = await reading_client.post(
        URL,
        json={"kind": "territory", "territory_id": str(uuid.uuid4()), "email": "a@example.org"},
        headers=_resident(gorod_stack, user),
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.territory_id"
    listed = await reading_client.get(URL, headers=_resident(gorod_stack, user))
    assert [s["kind"] for s in listed.json()["items"]] == ["territory", "area"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"kind": "problem", "email": "a@example.org"}, ["body.problem_id"]),
        ({"kind": "area", "email": "a@example.org", "point": {"lon": 38, "lat": 55}}, ["body.radius_m"]),
        (
            {"kind": "area", "email": "a@example.org", "point": {"lon": 38, "lat": 55}, "radius_m": 10},
            ["body.radius_m"],
        ),
        (
            {"kind": "area", "email": "a@example.org", "point": {"lon": 238, "lat": 55}, "radius_m": 100},
            ["body.point.lon"],
        ),
        (
            {
                "kind": "territory",
                "email": "a@example.org",
                "territory_id": str(uuid.uuid4()),
                "problem_id": str(uuid.uuid4()),
            },
            ["body.problem_id"],
        ),
        ({"kind": "problem", "email": "not-an-email", "problem_id": str(uuid.uuid4())}, ["body.email"]),
        ({"kind": "everything", "email": "a@example.org"}, ["body.kind"]),
    ],
)
async def test_bad_subscriptions_are_refused_per_field(
    reading_client: httpx.AsyncClient, gorod_stack: TestStack, body: dict[str, Any], fields: list[str]
) -> None:
    response = await reading_client.post(URL, json=body, headers=_resident(gorod_stack, uuid.uuid4()))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == fields


async def test_hidden_problems_cannot_be_followed_by_others(
    reading_client: httpx.AsyncClient, seed: Seed, gorod_stack: TestStack
) -> None:
    author = uuid.uuid4()
    hidden, private = await seed.problems(
        {"status": "moderation", "author_id": author}, {"category": "secret", "author_id": author}
    )
    for problem in (hidden, private, uuid.uuid4()):
        body = {"kind": "problem", "problem_id": str(problem), "email": "x@example.org"}
        response = await reading_client.post(URL, json=body, headers=_resident(gorod_stack, uuid.uuid4()))
        assert response.status_code == 404, response.text
    for problem in (hidden, private):
        body = {"kind": "problem", "problem_id": str(problem), "email": "x@example.org"}
        own = await reading_client.post(URL, json=body, headers=_resident(gorod_stack, author))
        assert own.status_code == 201
        moderator = _resident(gorod_stack, uuid.uuid4(), ("moderator",))
        assert (await reading_client.post(URL, json=body, headers=moderator)).status_code == 201


async def test_who_may_call(reading_client: httpx.AsyncClient, seed: Seed, gorod_stack: TestStack) -> None:
    [problem] = await seed.problems({})
    body = {"kind": "problem", "problem_id": str(problem), "email": "x@example.org"}
    assert (await reading_client.post(URL, json=body)).status_code == 401
    assert (await reading_client.get(URL)).status_code == 401
    assert (await reading_client.delete(f"{URL}/{uuid.uuid4()}")).status_code == 401
    wrong_audience = gorod_stack.tokens.bearer("routing", subject=uuid.uuid4())
    assert (await reading_client.post(URL, json=body, headers=wrong_audience)).status_code == 401
    partner = gorod_stack.tokens.bearer("problems", subject="partner-app", roles=[], scopes=["problems:write"])
    response = await reading_client.post(URL, json=body, headers=partner)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    # Another resident cannot see or delete my subscription.
    owner, stranger = uuid.uuid4(), uuid.uuid4()
    mine = (await reading_client.post(URL, json=body, headers=_resident(gorod_stack, owner))).json()
    assert (await reading_client.get(URL, headers=_resident(gorod_stack, stranger))).json()["items"] == []
    response = await reading_client.delete(f"{URL}/{mine['id']}", headers=_resident(gorod_stack, stranger))
    assert response.status_code == 404
    response = await reading_client.delete(f"{URL}/{mine['id']}", headers=_resident(gorod_stack, owner))
    assert response.status_code == 204
    assert (await reading_client.get(URL, headers=_resident(gorod_stack, owner))).json()["items"] == []


async def test_my_subscriptions_are_paginated(reading_client: httpx.AsyncClient, gorod_stack: TestStack) -> None:
    user = uuid.uuid4()
    made = []
    for i in range(5):
        area = {"kind": "area", "point": {"lon": 38 + i, "lat": 55}, "radius_m": 100, "email": "p@example.org"}
        made.append((await reading_client.post(URL, json=area, headers=_resident(gorod_stack, user))).json()["id"])
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await reading_client.get(URL, params=params, headers=_resident(gorod_stack, user))).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(made))
    bad = await reading_client.get(URL, params={"cursor": "WyJ4Il0"}, headers=_resident(gorod_stack, user))
    assert bad.status_code == 400


async def test_merge_moves_followers_once(seed: Seed) -> None:
    duplicate, survivor = await seed.problems({}, {})
    both, only_dup = uuid.uuid4(), uuid.uuid4()
    for user, problem in ((both, duplicate), (both, survivor), (only_dup, duplicate)):
        await seed.execute(
            "INSERT INTO problems.subscriptions (id, user_id, email, kind, problem_id, token)"
            " VALUES (:id, :user, 'm@example.org', 'problem', :problem, :token)",
            {"id": uuid.uuid4(), "user": user, "problem": problem, "token": uuid.uuid4().hex * 2},
        )
    async with seed.kit.session_factory() as session, session.begin():
        moved = await move_subscriptions(session, from_problem_id=duplicate, to_problem_id=survivor)
    assert moved == 1
    async with seed.kit.session_factory() as session:
        rows = await session.execute(
            text("SELECT user_id, problem_id FROM problems.subscriptions WHERE problem_id IN (:a, :b)"),
            {"a": duplicate, "b": survivor},
        )
        assert sorted((r.user_id, r.problem_id) for r in rows) == sorted([(both, survivor), (only_dup, survivor)])


async def test_unsubscribe_needs_the_right_token(reading_client: httpx.AsyncClient, seed: Seed) -> None:
    [problem] = await seed.problems({})
    token = f"right-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    await seed.execute(
        "INSERT INTO problems.subscriptions (id, user_id, email, kind, problem_id, token)"
        " VALUES (:id, :user, 'keep@example.org', 'problem', :problem, :token)",
        {"id": uuid.uuid4(), "user": uuid.uuid4(), "problem": problem, "token": token},
    )
    wrong = await reading_client.post(
        f"{URL}/unsubscribe", params={"token": f"wrong-{uuid.uuid4().hex}{uuid.uuid4().hex}"}
    )
    assert wrong.status_code == 200  # tells nothing about which tokens exist
    assert (await reading_client.post(f"{URL}/unsubscribe", params={"token": "short"})).status_code == 422
    nul = await reading_client.post(f"{URL}/unsubscribe", params={"token": "a" * 30 + "\x00"})  # PostgreSQL refuses NUL
    assert nul.status_code == 422
    assert (await reading_client.post(f"{URL}/unsubscribe")).status_code == 422
    # A GET (a mail scanner opening the link) changes nothing either.
    assert (await reading_client.get(f"{URL}/unsubscribe", params={"token": token})).status_code == 200

    async def left() -> int:
        async with seed.kit.session_factory() as session:
            found = await session.execute(
                text("SELECT count(*) FROM problems.subscriptions WHERE token = :t"), {"t": token}
            )
            return int(found.scalar_one())

    assert await left() == 1
    form = await reading_client.post(f"{URL}/unsubscribe", data={"token": token})  # the page's button
    assert form.status_code == 200
    assert await left() == 0
