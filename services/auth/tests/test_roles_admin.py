"""The operators' role API (/admin/v1): who may call it, grants and revocations with audit and events, look-ups.

Bearer tokens are minted with the app's own key ring and checked by a TokenVerifier that fetches the JWKS
through ASGI (the app's own ``/.well-known/jwks.json`` when it exists, else a tiny JWKS app over the same
key ring).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from auth.db import users as users_db
from auth.db.tables import audit_log, user_roles
from servicekit.app import ServiceContext
from servicekit.tables import kit_tables

from .conftest import Mint

pytestmark = pytest.mark.integration

UPDATED_SCHEMA = Path(__file__).resolve().parents[3] / "contracts" / "events" / "auth" / "user.updated.v1.json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def operator(make_user: Any, mint: Mint) -> tuple[uuid.UUID, dict[str, str]]:
    user = await make_user(roles=("operator",))
    return user.id, bearer(await mint(user.id, roles=("citizen", "operator")))


async def audit_rows(kit: ServiceContext, subject_id: uuid.UUID) -> list[Any]:
    async with kit.session_factory() as session:
        return list(
            (
                await session.execute(
                    select(audit_log).where(audit_log.c.subject_id == subject_id).order_by(audit_log.c.id)
                )
            ).all()
        )


async def outbox_events(kit: ServiceContext, routing_key: str, subject: uuid.UUID) -> list[dict[str, Any]]:
    outbox = kit_tables("auth").outbox
    async with kit.session_factory() as session:
        rows = await session.execute(
            select(outbox.c.body)
            .where(outbox.c.routing_key == routing_key, outbox.c.body["subject"].astext == str(subject))
            .order_by(outbox.c.id)
        )
        return [row.body for row in rows]


async def stored_roles(kit: ServiceContext, user_id: uuid.UUID) -> set[str]:
    async with kit.session_factory() as session:
        rows = await session.execute(select(user_roles.c.role).where(user_roles.c.user_id == user_id))
        return {row.role for row in rows}


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert any("а" <= ch.lower() <= "я" for ch in body["detail"]), body["detail"]
    return body


ENDPOINTS = [
    ("GET", "/admin/v1/users?email=someone@example.org"),
    ("GET", f"/admin/v1/users/{uuid.uuid4()}/roles"),
    ("PUT", f"/admin/v1/users/{uuid.uuid4()}/roles/official"),
    ("DELETE", f"/admin/v1/users/{uuid.uuid4()}/roles/official"),
    ("GET", f"/admin/v1/audit?subject_id={uuid.uuid4()}"),
]


# --- who may call --------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_anonymous_caller_gets_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_non_operator_gets_403(
    client: httpx.AsyncClient, make_user: Any, mint: Mint, method: str, path: str
) -> None:
    user = await make_user(roles=("official", "moderator"))
    token = await mint(user.id, roles=("citizen", "official", "moderator"))
    assert_problem(await client.request(method, path, headers=bearer(token)), 403)


async def test_a_forged_operator_token_gets_401(client: httpx.AsyncClient, operator: Any) -> None:
    _, headers = operator
    token = headers["Authorization"].removeprefix("Bearer ")
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    response = await client.get(f"/admin/v1/users/{uuid.uuid4()}/roles", headers=bearer(forged))
    assert_problem(response, 401)


# --- grants and revocations ----------------------------------------------------------------------


async def test_operator_grants_a_role_with_audit_and_event(
    client: httpx.AsyncClient, kit: ServiceContext, make_user: Any, operator: Any
) -> None:
    operator_id, headers = operator
    user = await make_user()

    response = await client.put(f"/admin/v1/users/{user.id}/roles/official", headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user_id"] == str(user.id)
    assert body["roles"] == ["citizen", "official"]
    assert body["grants"][0]["role"] == "official"
    assert body["grants"][0]["granted_by"] == str(operator_id)
    assert await stored_roles(kit, user.id) == {"official"}

    (row,) = await audit_rows(kit, user.id)
    assert (row.action, row.actor_id, row.subject_id, row.details) == (
        "role.granted",
        operator_id,
        user.id,
        {"role": "official"},
    )
    assert row.at is not None

    (event,) = await outbox_events(kit, "auth.user.updated.v1", user.id)
    assert event["type"] == "ru.gorod.auth.user.updated.v1"
    assert event["source"] == "auth"
    assert event["data"] == {"user_id": str(user.id), "changed": ["roles"], "roles": ["citizen", "official"]}
    schema = json.loads(UPDATED_SCHEMA.read_text())
    assert set(schema["required"]) <= set(event["data"])
    assert schema.get("additionalProperties") is not False  # "roles" travels as an additional property


async def test_granting_twice_is_idempotent_and_recorded_once(
    client: httpx.AsyncClient, kit: ServiceContext, make_user: Any, operator: Any
) -> None:
    _, headers = operator
    user = await make_user()

    first = await client.put(f"/admin/v1/users/{user.id}/roles/moderator", headers=headers)
    second = await client.put(f"/admin/v1/users/{user.id}/roles/moderator", headers=headers)

    assert first.status_code == second.status_code == 200
    assert first.json()["roles"] == second.json()["roles"] == ["citizen", "moderator"]
    assert [row.action for row in await audit_rows(kit, user.id)] == ["role.granted"]
    assert len(await outbox_events(kit, "auth.user.updated.v1", user.id)) == 1


async def test_operator_revokes_a_role_with_audit_and_event(
    client: httpx.AsyncClient, kit: ServiceContext, make_user: Any, operator: Any
) -> None:
    operator_id, headers = operator
    user = await make_user(roles=("official", "volunteer"))

    response = await client.delete(f"/admin/v1/users/{user.id}/roles/official", headers=headers)

    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["citizen", "volunteer"]
    assert await stored_roles(kit, user.id) == {"volunteer"}
    (row,) = await audit_rows(kit, user.id)
    assert (row.action, row.actor_id, row.subject_id, row.details) == (
        "role.revoked",
        operator_id,
        user.id,
        {"role": "official"},
    )
    (event,) = await outbox_events(kit, "auth.user.updated.v1", user.id)
    assert event["data"] == {"user_id": str(user.id), "changed": ["roles"], "roles": ["citizen", "volunteer"]}

    again = await client.delete(f"/admin/v1/users/{user.id}/roles/official", headers=headers)
    assert again.status_code == 200
    assert len(await audit_rows(kit, user.id)) == 1


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("role", ["superuser", "Operator", "operator "])
async def test_unknown_role_is_422(
    client: httpx.AsyncClient, kit: ServiceContext, make_user: Any, operator: Any, method: str, role: str
) -> None:
    _, headers = operator
    user = await make_user()
    response = await client.request(method, f"/admin/v1/users/{user.id}/roles/{role}", headers=headers)
    body = assert_problem(response, 422)
    assert "Выдавать можно роли" in body["detail"]
    assert await audit_rows(kit, user.id) == []
    assert await stored_roles(kit, user.id) == set()


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_citizen_cannot_be_granted_or_revoked(
    client: httpx.AsyncClient, kit: ServiceContext, make_user: Any, operator: Any, method: str
) -> None:
    _, headers = operator
    user = await make_user()
    response = await client.request(method, f"/admin/v1/users/{user.id}/roles/citizen", headers=headers)
    body = assert_problem(response, 422)
    assert "citizen" in body["detail"]
    roles = await client.get(f"/admin/v1/users/{user.id}/roles", headers=headers)
    assert roles.json()["roles"] == ["citizen"]
    assert await audit_rows(kit, user.id) == []


async def test_operator_cannot_revoke_their_own_operator_role(
    client: httpx.AsyncClient, kit: ServiceContext, operator: Any
) -> None:
    operator_id, headers = operator
    assert_problem(await client.delete(f"/admin/v1/users/{operator_id}/roles/operator", headers=headers), 409)
    assert await stored_roles(kit, operator_id) == {"operator"}


async def test_changing_roles_of_an_unknown_account_is_404(client: httpx.AsyncClient, operator: Any) -> None:
    _, headers = operator
    missing = uuid.uuid4()
    assert_problem(await client.put(f"/admin/v1/users/{missing}/roles/official", headers=headers), 404)
    assert_problem(await client.get(f"/admin/v1/users/{missing}/roles", headers=headers), 404)
    assert_problem(await client.get("/admin/v1/users/not-a-uuid/roles", headers=headers), 422)


# --- look-ups ------------------------------------------------------------------------------------


async def test_operator_finds_an_account_by_exact_email(
    client: httpx.AsyncClient, kit: ServiceContext, make_user: Any, operator: Any
) -> None:
    _, headers = operator
    user = await make_user(roles=("official",), full_name="Мария Иванова")
    async with kit.unit_of_work() as uow:  # a look-alike that an exact match must not return
        await users_db.insert_user(uow.session, email=f"x{user.email}", password_hash=None)
        await uow.commit()

    response = await client.get("/admin/v1/users", params={"email": f"  {user.email.upper()} "}, headers=headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    (found,) = body["items"]
    assert found["id"] == str(user.id)
    assert found["email"] == user.email
    assert found["name"] == "Мария Иванова"
    assert found["roles"] == ["citizen", "official"]
    assert datetime.fromisoformat(found["created_at"]).tzinfo is not None

    nobody = await client.get(
        "/admin/v1/users", params={"email": f"nobody-{uuid.uuid4().hex}@example.org"}, headers=headers
    )
    assert nobody.json() == {"items": [], "next_cursor": None}
    assert_problem(await client.get("/admin/v1/users", params={"email": "a@b", "cursor": "!!"}, headers=headers), 400)


async def test_operator_reads_an_account_roles(client: httpx.AsyncClient, make_user: Any, operator: Any) -> None:
    _, headers = operator
    user = await make_user(roles=("chamber_member",))
    response = await client.get(f"/admin/v1/users/{user.id}/roles", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert body["roles"] == ["chamber_member", "citizen"]
    assert [(g["role"], g["granted_by"]) for g in body["grants"]] == [("chamber_member", None)]


async def test_audit_trail_is_paginated_and_filtered_by_subject(
    client: httpx.AsyncClient, make_user: Any, operator: Any
) -> None:
    operator_id, headers = operator
    user, other = await make_user(), await make_user()
    for path in ("roles/official", "roles/moderator"):
        assert (await client.put(f"/admin/v1/users/{user.id}/{path}", headers=headers)).status_code == 200
    assert (await client.delete(f"/admin/v1/users/{user.id}/roles/official", headers=headers)).status_code == 200
    assert (await client.put(f"/admin/v1/users/{other.id}/roles/official", headers=headers)).status_code == 200

    seen: list[dict[str, Any]] = []
    params: dict[str, Any] = {"subject_id": str(user.id), "limit": 2}
    for _ in range(5):
        page = (await client.get("/admin/v1/audit", params=params, headers=headers)).json()
        seen.extend(page["items"])
        if page["next_cursor"] is None:
            break
        assert len(page["items"]) == 2
        params["cursor"] = page["next_cursor"]

    assert [(e["action"], e["details"]["role"]) for e in seen] == [
        ("role.revoked", "official"),
        ("role.granted", "moderator"),
        ("role.granted", "official"),
    ]
    assert {e["subject_id"] for e in seen} == {str(user.id)}
    assert {e["actor_id"] for e in seen} == {str(operator_id)}
