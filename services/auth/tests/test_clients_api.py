"""The operators' admin API of the OAuth client registry, on the real app and the test stack's PostgreSQL."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from auth.db.tables import audit_log, oauth_clients, refresh_tokens
from auth.domain.secrets import token_hash, verify_password
from auth.domain.tokens import access_token_claims
from servicekit.app import ServiceContext
from servicekit.http.problems import PROBLEM_JSON
from servicekit.security import TokenVerifier

from .conftest import MakeUser

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
URL = "/admin/v1/clients"
Headers = dict[str, str]
Bearer = Callable[..., Awaitable[Headers]]


@pytest.fixture
async def verifier(auth_app: FastAPI) -> AsyncIterator[None]:
    """Point the app's token verifier at a JWKS served from the app's own key ring (over ASGI, in-process)."""
    jwks_app = FastAPI()

    @jwks_app.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        return await auth_app.state.keys.jwks()  # type: ignore[no-any-return]

    kit: ServiceContext = auth_app.state.kit
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=jwks_app), base_url="http://jwks.test")
    saved = kit.token_verifier
    kit.token_verifier = TokenVerifier(
        jwks_url="http://jwks.test/jwks.json",
        issuer=kit.settings.jwt_issuer,
        audience=kit.settings.audience,
        http_client=http,
    )
    try:
        yield
    finally:
        kit.token_verifier = saved
        await http.aclose()


@pytest.fixture
def bearer(auth_app: FastAPI, verifier: None) -> Bearer:
    async def make(user_id: uuid.UUID, *roles: str, audience: tuple[str, ...] = ("auth", "gateway")) -> Headers:
        key = await auth_app.state.keys.signing_key()
        claims = access_token_claims(
            issuer=auth_app.state.kit.settings.jwt_issuer,
            subject=str(user_id),
            client_id="gorod-web",
            audience=audience,
            scope="openid",
            roles=("citizen", *roles),
            issued_at=datetime.now(UTC),
            ttl=300,
        )
        return {"Authorization": f"Bearer {key.sign(claims, typ='at+jwt')}"}

    return make


@pytest.fixture
async def operator(make_user: MakeUser, bearer: Bearer) -> tuple[uuid.UUID, Headers]:
    user = await make_user(roles=("operator",))
    return user.id, await bearer(user.id, "operator")


@pytest.fixture
def admin(operator: tuple[uuid.UUID, Headers]) -> Headers:
    return operator[1]


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def web_client(**extra: Any) -> dict[str, Any]:
    return {
        "client_id": unique("web"),
        "name": "Веб-клиент",
        "kind": "web",
        "redirect_uris": ["https://gorod.example.ru/callback"],
        **extra,
    }


def partner_client(**extra: Any) -> dict[str, Any]:
    return {
        "client_id": unique("partner"),
        "name": "Партнёр",
        "kind": "partner",
        "scopes": ["open311", "problems:read"],
        "audiences": ["gateway", "problems"],
        **extra,
    }


def widget_client(site: str, **extra: Any) -> dict[str, Any]:
    return {
        "client_id": unique("widget"),
        "name": "Виджет",
        "kind": "widget",
        "allowed_origins": [site],
        "redirect_uris": [f"{site}/gorod/callback"],
        **extra,
    }


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert CYRILLIC.search(body["detail"]), body
    return body


def error_fields(response: httpx.Response) -> dict[str, str]:
    body = problem(response, 422)
    for error in body["errors"]:
        assert CYRILLIC.search(error["message"]), error
    return {error["field"]: error["message"] for error in body["errors"]}


async def stored(kit: ServiceContext, client_id: str) -> Any:
    async with kit.session_factory() as session:
        return (await session.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id))).first()


async def audited(kit: ServiceContext, action: str, client_id: str) -> list[Any]:
    async with kit.session_factory() as session:
        rows = await session.execute(
            select(audit_log).where(audit_log.c.action == action, audit_log.c.details["client_id"].astext == client_id)
        )
        return list(rows)


# --- who may call ---------------------------------------------------------------------------------------

ENDPOINTS = [
    ("POST", URL),
    ("GET", URL),
    ("GET", f"{URL}/gorod-web"),
    ("PATCH", f"{URL}/gorod-web"),
    ("POST", f"{URL}/gorod-web/secret"),
    ("DELETE", f"{URL}/gorod-web"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_without_a_token_every_endpoint_is_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={"name": "x"})
    problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
@pytest.mark.parametrize("role", ["citizen", "official", "moderator", "chamber_member", "volunteer"])
async def test_other_roles_get_403_on_every_endpoint(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    bearer: Bearer,
    kit: ServiceContext,
    method: str,
    path: str,
    role: str,
) -> None:
    user = await make_user(roles=() if role == "citizen" else (role,))
    headers = await bearer(user.id, *(() if role == "citizen" else (role,)))
    response = await client.request(method, path, json=partner_client(client_id="forbidden-x"), headers=headers)
    problem(response, 403)
    assert await stored(kit, "forbidden-x") is None


async def test_an_operator_token_for_another_audience_is_401(
    client: httpx.AsyncClient, make_user: MakeUser, bearer: Bearer
) -> None:
    user = await make_user(roles=("operator",))
    headers = await bearer(user.id, "operator", audience=("problems",))
    problem(await client.get(URL, headers=headers), 401)


async def test_a_forged_operator_token_is_401(client: httpx.AsyncClient, admin: Headers) -> None:
    token = admin["Authorization"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    problem(await client.get(URL, headers={"Authorization": forged}), 401)


# --- create ---------------------------------------------------------------------------------------------


async def test_an_operator_registers_a_public_web_client(
    client: httpx.AsyncClient, admin: Headers, kit: ServiceContext
) -> None:
    body = web_client(allowed_origins=["https://Gorod.Example.RU:443"])
    response = await client.post(URL, json=body, headers=admin)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["client_id"] == body["client_id"]
    assert created["kind"] == "web"
    assert created["confidential"] is False
    assert created["allowed_origins"] == ["https://gorod.example.ru"]
    assert created["grant_types"] == ["authorization_code", "refresh_token"]
    assert created["scopes"] == ["openid", "profile", "email", "offline_access"]
    assert created["disabled_at"] is None
    assert created.get("client_secret") is None
    assert "secret_hash" not in created

    row = await stored(kit, body["client_id"])
    assert row.secret_hash is None
    assert row.redirect_uris == ["https://gorod.example.ru/callback"]

    fetched = await client.get(f"{URL}/{body['client_id']}", headers=admin)
    assert fetched.status_code == 200
    assert fetched.json() == {k: v for k, v in created.items() if k != "client_secret"}


async def test_a_partner_gets_its_secret_once_and_it_is_stored_hashed(
    client: httpx.AsyncClient, operator: tuple[uuid.UUID, Headers], kit: ServiceContext
) -> None:
    operator_id, admin = operator
    body = partner_client()
    response = await client.post(URL, json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    secret = created["client_secret"]
    assert isinstance(secret, str)
    assert len(secret) >= 40
    assert created["confidential"] is True
    assert created["grant_types"] == ["client_credentials"]

    row = await stored(kit, body["client_id"])
    assert row.secret_hash.startswith("$argon2id$")
    assert secret not in row.secret_hash
    assert verify_password(secret, row.secret_hash)
    assert not verify_password(secret + "x", row.secret_hash)

    fetched = (await client.get(f"{URL}/{body['client_id']}", headers=admin)).json()
    assert "client_secret" not in fetched
    assert "secret_hash" not in fetched

    [entry] = await audited(kit, "client.created", body["client_id"])
    assert entry.actor_id == operator_id
    assert entry.details == {"client_id": body["client_id"], "kind": "partner"}


async def test_a_generated_client_id_when_none_is_given(client: httpx.AsyncClient, admin: Headers) -> None:
    body = partner_client()
    del body["client_id"]
    response = await client.post(URL, json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert re.fullmatch(r"partner-[0-9a-f]{12}", response.json()["client_id"])


async def test_idempotency_key_replays_without_a_second_client_or_the_secret(
    client: httpx.AsyncClient, admin: Headers, kit: ServiceContext
) -> None:
    body = partner_client(name=f"Партнёр {uuid.uuid4().hex}")
    del body["client_id"]  # generated: a second creation would make a second client
    headers = {**admin, "Idempotency-Key": str(uuid.uuid4())}
    first = await client.post(URL, json=body, headers=headers)
    again = await client.post(URL, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["client_secret"]
    replay = again.json()
    assert replay.get("client_secret") is None  # never kept in clear, so never replayed
    assert replay == {k: v for k, v in first.json().items() if k != "client_secret"}
    async with kit.session_factory() as session:
        count = await session.scalar(
            select(func.count()).select_from(oauth_clients).where(oauth_clients.c.name == body["name"])
        )
    assert count == 1

    other = await client.post(URL, json={**body, "name": "Другой"}, headers=headers)
    problem(other, 422)


async def test_a_taken_client_id_is_409(client: httpx.AsyncClient, admin: Headers) -> None:
    body = web_client()
    assert (await client.post(URL, json=body, headers=admin)).status_code == 201
    problem(await client.post(URL, json={**body, "name": "Другой"}, headers=admin), 409)


@pytest.mark.parametrize("field", ["secret_hash", "client_secret", "disabled_at", "created_at", "owner"])
async def test_unknown_fields_are_refused(
    client: httpx.AsyncClient, admin: Headers, kit: ServiceContext, field: str
) -> None:
    body = partner_client(**{field: "$argon2id$v=19$m=65536,t=3,p=4$forged"})
    fields = error_fields(await client.post(URL, json=body, headers=admin))
    assert f"body.{field}" in fields
    assert await stored(kit, body["client_id"]) is None


@pytest.mark.parametrize("kind", ["web", "mobile", "widget", "partner"])
async def test_can_introspect_only_for_a_resource_server(
    client: httpx.AsyncClient, admin: Headers, kit: ServiceContext, kind: str
) -> None:
    bodies = {
        "web": web_client(),
        "mobile": {**web_client(), "kind": "mobile", "redirect_uris": ["ru.gorod.app:/callback"]},
        "widget": widget_client(f"https://{unique('site')}.example.ru"),
        "partner": partner_client(),
    }
    body = {**bodies[kind], "can_introspect": True}
    fields = error_fields(await client.post(URL, json=body, headers=admin))
    assert list(fields) == ["body.can_introspect"]
    assert "resource_server" in fields["body.can_introspect"]
    assert await stored(kit, body["client_id"]) is None

    server = {"client_id": unique("rs"), "name": "Служба", "kind": "resource_server"}
    response = await client.post(URL, json=server, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["can_introspect"] is True
    assert response.json()["client_secret"]


async def test_invalid_fields_are_422_naming_each_field_in_russian(client: httpx.AsyncClient, admin: Headers) -> None:
    body = {
        "client_id": unique("bad"),
        "name": "Плохой",
        "kind": "web",
        "redirect_uris": [
            "https://gorod.example.ru/ok",
            "https://gorod.example.ru/cb#frag",
            "http://gorod.example.ru/",
        ],
        "allowed_origins": ["https://gorod.example.ru/path"],
        "scopes": ["openid", "everything"],
        "audiences": ["gateway", "mars"],
    }
    response = await client.post(URL, json=body, headers=admin)
    fields = error_fields(response)
    assert set(fields) == {
        "body.redirect_uris.1",
        "body.redirect_uris.2",
        "body.allowed_origins.0",
        "body.scopes.1",
        "body.audiences.1",
    }
    assert "фрагмент" in fields["body.redirect_uris.1"]
    assert "https" in fields["body.redirect_uris.2"]
    detail = response.json()["detail"]
    for name in ("адреса возврата", "разрешённые сайты", "области доступа", "получатели токенов"):
        assert name in detail


async def test_a_bad_client_id_and_kind_are_422(client: httpx.AsyncClient, admin: Headers) -> None:
    assert "body.client_id" in error_fields(
        await client.post(URL, json=web_client(client_id="Плохой id"), headers=admin)
    )
    assert "body.kind" in error_fields(await client.post(URL, json=web_client(kind="robot"), headers=admin))


async def test_a_mobile_app_uses_rfc_8252_redirects(client: httpx.AsyncClient, admin: Headers) -> None:
    body = {
        "client_id": unique("app"),
        "name": "Город для Android",
        "kind": "mobile",
        "redirect_uris": ["ru.gorod.app:/callback", "http://127.0.0.1/callback", "http://[::1]/callback"],
    }
    response = await client.post(URL, json=body, headers=admin)
    assert response.status_code == 201, response.text
    assert response.json()["redirect_uris"] == body["redirect_uris"]
    assert response.json()["confidential"] is False

    refused = {**body, "client_id": unique("app"), "redirect_uris": ["http://localhost:8080/callback"]}
    assert "localhost" in error_fields(await client.post(URL, json=refused, headers=admin))["body.redirect_uris.0"]


async def test_one_widget_per_municipal_site(client: httpx.AsyncClient, admin: Headers) -> None:
    site = f"https://{unique('tver')}.example.ru"
    first = await client.post(URL, json=widget_client(site), headers=admin)
    assert first.status_code == 201, first.text
    assert first.json()["allowed_origins"] == [site]

    second = widget_client(f"{site}:443", redirect_uris=[f"{site}/other"])
    body = problem(await client.post(URL, json=second, headers=admin), 409)
    assert first.json()["client_id"] in body["detail"]

    # Once the first is disabled, the site can get a new widget.
    assert (await client.delete(f"{URL}/{first.json()['client_id']}", headers=admin)).status_code == 204
    assert (await client.post(URL, json=second, headers=admin)).status_code == 201


async def test_a_widget_redirect_must_be_on_its_site(client: httpx.AsyncClient, admin: Headers) -> None:
    site = f"https://{unique('site')}.example.ru"
    body = widget_client(site, redirect_uris=["https://elsewhere.example.ru/callback"])
    assert "body.redirect_uris.0" in error_fields(await client.post(URL, json=body, headers=admin))
    body = widget_client(site.replace("https", "http"))
    assert "body.allowed_origins.0" in error_fields(await client.post(URL, json=body, headers=admin))


# --- list -----------------------------------------------------------------------------------------------


async def test_the_list_is_cursor_paginated(client: httpx.AsyncClient, admin: Headers) -> None:
    prefix = unique("page")
    ids = [f"{prefix}-{i}" for i in range(5)]
    for client_id in reversed(ids):
        assert (await client.post(URL, json=web_client(client_id=client_id), headers=admin)).status_code == 201

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, "kind": "web"}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(URL, params=params, headers=admin)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        assert all(item["kind"] == "web" for item in page["items"])
        seen += [item["client_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(seen)
    assert len(seen) == len(set(seen))
    assert [client_id for client_id in seen if client_id.startswith(prefix)] == ids

    partners = (await client.get(URL, params={"kind": "partner", "limit": 100}, headers=admin)).json()["items"]
    assert all(item["kind"] == "partner" for item in partners)
    assert not any(item["client_id"].startswith(prefix) for item in partners)


async def test_a_bad_cursor_is_400(client: httpx.AsyncClient, admin: Headers) -> None:
    problem(await client.get(URL, params={"cursor": "%%%"}, headers=admin), 400)
    problem(await client.get(URL, params={"cursor": "WzEsMl0"}, headers=admin), 400)  # [1,2]


async def test_an_unknown_client_is_404(client: httpx.AsyncClient, admin: Headers) -> None:
    missing = unique("missing")
    problem(await client.get(f"{URL}/{missing}", headers=admin), 404)
    problem(await client.patch(f"{URL}/{missing}", json={"name": "x"}, headers=admin), 404)
    problem(await client.post(f"{URL}/{missing}/secret", headers=admin), 404)
    problem(await client.delete(f"{URL}/{missing}", headers=admin), 404)


# --- change ---------------------------------------------------------------------------------------------


async def test_patch_changes_only_what_is_sent_and_rechecks_the_whole_client(
    client: httpx.AsyncClient, admin: Headers, kit: ServiceContext
) -> None:
    site = f"https://{unique('site')}.example.ru"
    body = widget_client(site)
    created = (await client.post(URL, json=body, headers=admin)).json()
    path = f"{URL}/{body['client_id']}"

    response = await client.patch(
        path, json={"name": "Виджет Твери", "scopes": ["openid", "problems:write"]}, headers=admin
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["name"] == "Виджет Твери"
    assert changed["scopes"] == ["openid", "problems:write"]
    assert changed["redirect_uris"] == created["redirect_uris"]
    assert changed["allowed_origins"] == created["allowed_origins"]
    assert (await client.get(path, headers=admin)).json() == changed
    [entry] = await audited(kit, "client.updated", body["client_id"])
    assert entry.details["fields"] == ["name", "scopes"]

    nothing = await client.patch(path, json={}, headers=admin)  # an empty change changes and audits nothing
    assert (nothing.status_code, nothing.json()) == (200, changed)
    assert len(await audited(kit, "client.updated", body["client_id"])) == 1

    # Moving the widget to another site without moving its redirect is refused, and nothing changes.
    moved = await client.patch(path, json={"allowed_origins": ["https://other.example.ru"]}, headers=admin)
    assert "body.redirect_uris.0" in error_fields(moved)
    assert (await client.get(path, headers=admin)).json() == changed


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"kind": "partner"}, "body.kind"),
        ({"client_id": "other"}, "body.client_id"),
        ({"secret_hash": "x"}, "body.secret_hash"),
        ({"can_introspect": True}, "body.can_introspect"),
        ({"redirect_uris": None}, "body.redirect_uris"),
        ({"grant_types": ["client_credentials"]}, "body.grant_types.0"),
        ({"name": "  "}, "body.name"),
    ],
)
async def test_patch_refuses_what_may_not_change(
    client: httpx.AsyncClient, admin: Headers, patch: dict[str, Any], field: str
) -> None:
    body = web_client()
    assert (await client.post(URL, json=body, headers=admin)).status_code == 201
    assert field in error_fields(await client.patch(f"{URL}/{body['client_id']}", json=patch, headers=admin))


async def test_a_resource_server_can_lose_and_regain_introspection(client: httpx.AsyncClient, admin: Headers) -> None:
    body = {"client_id": unique("rs"), "name": "Служба", "kind": "resource_server"}
    assert (await client.post(URL, json=body, headers=admin)).status_code == 201
    response = await client.patch(f"{URL}/{body['client_id']}", json={"can_introspect": False}, headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()["can_introspect"] is False


# --- secrets --------------------------------------------------------------------------------------------


async def test_rotation_returns_a_new_secret_once_and_the_old_stops_working(
    client: httpx.AsyncClient, operator: tuple[uuid.UUID, Headers], kit: ServiceContext
) -> None:
    operator_id, admin = operator
    body = partner_client()
    old = (await client.post(URL, json=body, headers=admin)).json()["client_secret"]

    response = await client.post(f"{URL}/{body['client_id']}/secret", headers=admin)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    new = response.json()["client_secret"]
    assert response.json()["client_id"] == body["client_id"]
    assert new != old

    row = await stored(kit, body["client_id"])
    assert verify_password(new, row.secret_hash)
    assert not verify_password(old, row.secret_hash)
    [entry] = await audited(kit, "client.secret_rotated", body["client_id"])
    assert entry.actor_id == operator_id


async def test_a_public_client_has_no_secret_to_rotate(
    client: httpx.AsyncClient, admin: Headers, kit: ServiceContext
) -> None:
    body = web_client()
    assert (await client.post(URL, json=body, headers=admin)).status_code == 201
    problem(await client.post(f"{URL}/{body['client_id']}/secret", headers=admin), 409)
    assert (await stored(kit, body["client_id"])).secret_hash is None


# --- disable --------------------------------------------------------------------------------------------


async def test_delete_disables_the_client_and_revokes_its_refresh_tokens(
    client: httpx.AsyncClient, admin: Headers, kit: ServiceContext, make_user: MakeUser
) -> None:
    body = web_client()
    assert (await client.post(URL, json=body, headers=admin)).status_code == 201
    user = await make_user()
    now = datetime.now(UTC)
    async with kit.unit_of_work() as uow:
        await uow.session.execute(
            refresh_tokens.insert().values(
                token_hash=token_hash(uuid.uuid4().hex),
                family_id=uuid.uuid4(),
                client_id=body["client_id"],
                user_id=user.id,
                scope="openid offline_access",
                auth_time=now,
                expires_at=now + timedelta(days=1),
            )
        )
        await uow.commit()

    path = f"{URL}/{body['client_id']}"
    response = await client.delete(path, headers=admin)
    assert response.status_code == 204
    shown = (await client.get(path, headers=admin)).json()
    assert shown["disabled_at"] is not None
    async with kit.session_factory() as session:
        revoked = await session.scalar(
            select(refresh_tokens.c.revoked_at).where(refresh_tokens.c.client_id == body["client_id"])
        )
    assert revoked is not None

    assert (await client.delete(path, headers=admin)).status_code == 204  # again: harmless
    assert (await client.get(path, headers=admin)).json()["disabled_at"] == shown["disabled_at"]
    assert len(await audited(kit, "client.disabled", body["client_id"])) == 1

    problem(await client.patch(path, json={"name": "Ожил"}, headers=admin), 409)


async def test_a_disabled_partner_gets_no_new_secret(client: httpx.AsyncClient, admin: Headers) -> None:
    body = partner_client()
    assert (await client.post(URL, json=body, headers=admin)).status_code == 201
    assert (await client.delete(f"{URL}/{body['client_id']}", headers=admin)).status_code == 204
    problem(await client.post(f"{URL}/{body['client_id']}/secret", headers=admin), 409)
