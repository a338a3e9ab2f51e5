"""Moderators: the queue, approve (published.v1), reject with a reason, edit keeping the original, merge
duplicates (supports move), hide comments. Everybody else gets 401/403."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from servicekit.app import ServiceContext

from .conftest import Report, Tokens, check_contract, outbox_events

VOLUNTEERING = {"map": "volunteering", "category": "volunteer.help", "extra": {"volunteers_needed": 5}}


@pytest.fixture
async def waiting(report: Report, auth: Tokens) -> tuple[dict[str, Any], dict[str, str]]:
    """A problem on moderation (the volunteering map is pre-moderated)."""
    result: tuple[dict[str, Any], dict[str, str]] = await report(headers=auth("citizen", "volunteer"), **VOLUNTEERING)
    assert result[0]["status"] == "moderation"
    return result


async def test_only_moderators(client: httpx.AsyncClient, auth: Tokens, waiting: tuple[dict[str, Any], Any]) -> None:
    problem, author = waiting
    base = "/api/v1/problems/moderation"
    calls = [
        ("GET", f"{base}/queue", None),
        ("POST", f"{base}/{problem['id']}/approve", None),
        ("POST", f"{base}/{problem['id']}/reject", {"reason": "Спам"}),
        ("PATCH", f"{base}/{problem['id']}", {"title": "Новый"}),
        ("POST", f"{base}/{problem['id']}/merge", {"into": str(uuid.uuid4())}),
        ("GET", f"{base}/comments", None),
        ("POST", f"{base}/comments/{uuid.uuid4()}/hide", {}),
    ]
    for method, path, body in calls:
        assert (await client.request(method, path, json=body)).status_code == 401, path
        for headers in (author, auth("citizen"), auth("operator"), auth("official")):
            assert (await client.request(method, path, json=body, headers=headers)).status_code == 403, path


async def test_queue_and_approve(
    client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens, waiting: tuple[dict[str, Any], Any]
) -> None:
    problem, _author = waiting
    moderator = auth("moderator")
    queue: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = (
            await client.get(
                "/api/v1/problems/moderation/queue",
                params={"limit": 50, "cursor": cursor} if cursor else {"limit": 50},
                headers=moderator,
            )
        ).json()
        queue += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert problem["id"] in [item["id"] for item in queue]
    approved = await client.post(f"/api/v1/problems/moderation/{problem['id']}/approve", headers=moderator)
    assert approved.status_code == 200
    assert approved.json()["status"] == "published"
    assert (await client.get(f"/api/v1/problems/{problem['id']}")).status_code == 200
    events = await outbox_events(kit, problem["id"])
    assert [e["type"].split(".")[-2] for e in events] == ["reported", "status_changed", "published"]
    for event in events:
        check_contract(event)
    assert events[1]["data"]["from_status"] == "moderation"
    assert events[1]["data"]["to_status"] == "published"
    again = await client.post(f"/api/v1/problems/moderation/{problem['id']}/approve", headers=moderator)
    assert again.status_code == 409


async def test_reject_with_reason(
    client: httpx.AsyncClient, kit: ServiceContext, auth: Tokens, waiting: tuple[dict[str, Any], Any]
) -> None:
    problem, author = waiting
    moderator = auth("moderator")
    empty = await client.post(f"/api/v1/problems/moderation/{problem['id']}/reject", json={}, headers=moderator)
    assert empty.status_code == 422
    rejected = await client.post(
        f"/api/v1/problems/moderation/{problem['id']}/reject", json={"reason": "Это реклама"}, headers=moderator
    )
    assert rejected.status_code == 200
    assert rejected.json()["status"] == "rejected"
    assert (await client.get(f"/api/v1/problems/{problem['id']}")).status_code == 404
    mine = (await client.get(f"/api/v1/problems/{problem['id']}", headers=author)).json()
    assert mine["moderation_reason"] == "Это реклама"
    assert mine["status_name"] == "Отклонена модератором"
    changed = (await outbox_events(kit, problem["id"]))[-1]
    check_contract(changed)
    assert changed["data"]["to_status"] == "rejected"
    assert changed["data"]["reason"] == "Это реклама"


async def test_edit_keeps_the_original(client: httpx.AsyncClient, report: Report, auth: Tokens) -> None:
    problem, _ = await report(description="Яма, телефон автора +7 900 000-00-00")
    moderator = auth("moderator")
    path = f"/api/v1/problems/moderation/{problem['id']}"
    first = await client.patch(path, json={"description": "Яма", "reason": "Персональные данные"}, headers=moderator)
    assert first.status_code == 200, first.text
    second = await client.patch(
        path, json={"category": "roads.signs", "extra": {"sign_problem": "worn"}}, headers=moderator
    )
    edited = second.json()
    assert edited["description"] == "Яма"
    assert edited["category_code"] == "roads.signs"
    assert edited["original"]["description"] == "Яма, телефон автора +7 900 000-00-00"
    assert edited["original"]["category_code"] == "roads.pothole"
    bad = await client.patch(path, json={"extra": {"sign_problem": "nonsense"}}, headers=moderator)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.extra.sign_problem"


async def test_merge_moves_supports(
    client: httpx.AsyncClient, kit: ServiceContext, report: Report, auth: Tokens
) -> None:
    survivor, _survivor_author = await report()
    duplicate, _duplicate_author = await report()
    both, only_dup = auth("citizen", subject=uuid.uuid4()), auth("citizen")
    for headers in (both, only_dup):
        await client.post(f"/api/v1/problems/{duplicate['id']}/supports", headers=headers)
    await client.post(f"/api/v1/problems/{survivor['id']}/supports", headers=both)
    follower = auth("citizen")
    follow = await client.post(
        "/api/v1/problems/subscriptions",
        json={"kind": "problem", "problem_id": duplicate["id"], "email": "follower@example.org"},
        headers=follower,
    )
    assert follow.status_code == 201, follow.text
    moderator = auth("moderator")
    path = f"/api/v1/problems/moderation/{duplicate['id']}/merge"
    self_merge = await client.post(
        f"/api/v1/problems/moderation/{duplicate['id']}/merge", json={"into": duplicate["id"]}, headers=moderator
    )
    assert self_merge.status_code == 422
    merged = await client.post(path, json={"into": survivor["id"], "reason": "Та же яма"}, headers=moderator)
    assert merged.status_code == 200, merged.text
    # both, only_dup, and the duplicate's author (as a supporter): 3 distinct users
    assert merged.json()["id"] == survivor["id"]
    assert merged.json()["supports_count"] == 3
    old = (await client.get(f"/api/v1/problems/{duplicate['id']}", headers=moderator)).json()
    assert old["status"] == "merged"
    assert old["merged_into"] == survivor["id"]
    assert old["supports_count"] == 0
    event = (await outbox_events(kit, duplicate["id"]))[-1]
    check_contract(event)
    assert event["data"]["to_status"] == "merged"
    followed = (await client.get("/api/v1/problems/subscriptions", headers=follower)).json()["items"]
    assert [item["problem_id"] for item in followed] == [survivor["id"]]
    twice = await client.post(path, json={"into": survivor["id"]}, headers=moderator)
    assert twice.status_code == 409
