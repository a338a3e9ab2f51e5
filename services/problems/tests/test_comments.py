"""Comments: create (Idempotency-Key), list paginated, edit one's own, flag once; moderators hide."""

from __future__ import annotations

import uuid

import httpx

from .conftest import Report, Tokens


async def test_comment_lifecycle(client: httpx.AsyncClient, report: Report, auth: Tokens) -> None:
    problem, _ = await report()
    path = f"/api/v1/problems/{problem['id']}/comments"
    assert (await client.post(path, json={"body": "Тоже вижу"})).status_code == 401
    writer = auth("citizen")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(
        path, json={"body": "Тоже вижу эту яму", "display_name": "Пётр"}, headers={**writer, **key}
    )
    retry = await client.post(
        path, json={"body": "Тоже вижу эту яму", "display_name": "Пётр"}, headers={**writer, **key}
    )
    assert first.status_code == retry.status_code == 201
    assert first.json()["id"] == retry.json()["id"]
    comment = first.json()
    assert comment["author"] == {"display_name": "Пётр"}
    assert comment["is_mine"] is True
    for n in range(4):
        await client.post(path, json={"body": f"Комментарий {n}"}, headers=auth("citizen"))
    assert (await client.post(path, json={"body": ""}, headers=writer)).status_code == 422

    page = (await client.get(path, params={"limit": 3})).json()
    rest = (await client.get(path, params={"limit": 3, "cursor": page["next_cursor"]})).json()
    bodies = [c["body"] for c in page["items"] + rest["items"]]
    assert bodies[0] == "Тоже вижу эту яму"
    assert len(bodies) == 5
    assert rest["next_cursor"] is None
    assert (await client.get(f"/api/v1/problems/{problem['id']}")).json()["comments_count"] == 5

    edit_path = f"/api/v1/problems/comments/{comment['id']}"
    assert (await client.patch(edit_path, json={"body": "Чужая правка"}, headers=auth("citizen"))).status_code == 403
    edited = await client.patch(edit_path, json={"body": "Тоже вижу эту яму, глубокая"}, headers=writer)
    assert edited.status_code == 200
    assert edited.json()["edited_at"] is not None


async def test_flag_and_hide(client: httpx.AsyncClient, report: Report, auth: Tokens) -> None:
    problem, _ = await report()
    path = f"/api/v1/problems/{problem['id']}/comments"
    comment = (await client.post(path, json={"body": "Грубость"}, headers=auth("citizen"))).json()
    flag_path = f"/api/v1/problems/comments/{comment['id']}/flags"
    flagger = auth("citizen")
    assert (await client.post(flag_path, json={"reason": "оскорбление"})).status_code == 401
    assert (await client.post(flag_path, json={"reason": "оскорбление"}, headers=flagger)).status_code == 201
    assert (await client.post(flag_path, json={"reason": "оскорбление"}, headers=flagger)).status_code == 200
    await client.post(flag_path, json={}, headers=auth("citizen"))
    moderator = auth("moderator")
    flagged = (
        await client.get("/api/v1/problems/moderation/comments", params={"limit": 100}, headers=moderator)
    ).json()
    mine = next(c for c in flagged["items"] if c["id"] == comment["id"])
    assert mine["flags_count"] == 2

    hidden = await client.post(
        f"/api/v1/problems/moderation/comments/{comment['id']}/hide", json={"reason": "Оскорбление"}, headers=moderator
    )
    assert hidden.status_code == 200
    assert hidden.json()["hidden"] is True
    public = (await client.get(path)).json()["items"]
    assert comment["id"] not in [c["id"] for c in public]
    staff = (await client.get(path, headers=moderator)).json()["items"]
    assert [c["hidden_reason"] for c in staff if c["id"] == comment["id"]] == ["Оскорбление"]
    assert (await client.get(f"/api/v1/problems/{problem['id']}")).json()["comments_count"] == 0
