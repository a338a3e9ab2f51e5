"""The demo data ``make up`` loads: run twice against the test stack, everything exists exactly once."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from auth import demo
from auth.db.tables import consents, oauth_clients, user_roles, users
from auth.domain.secrets import verify_password
from auth.settings import AuthSettings
from servicekit.app import ServiceContext

EMAILS = {
    "citizen@example.org": set(),
    "official@example.org": {"official"},
    "moderator@example.org": {"moderator"},
    "operator@example.org": {"operator"},
}


async def _users(kit: ServiceContext) -> list[Any]:
    async with kit.session_factory() as session:
        return list(await session.execute(select(users).where(users.c.email.in_(EMAILS))))


async def _client(kit: ServiceContext, client_id: str) -> Any:
    async with kit.session_factory() as session:
        return (await session.execute(select(oauth_clients).where(oauth_clients.c.client_id == client_id))).one()


async def test_loading_twice_creates_everything_once(auth_settings: AuthSettings, kit: ServiceContext) -> None:
    first = await demo.load(auth_settings)
    second = await demo.load(auth_settings)
    assert first == second
    for email, label in [
        ("citizen@example.org", "житель"),
        ("official@example.org", "чиновник"),
        ("moderator@example.org", "модератор"),
        ("operator@example.org", "оператор"),
    ]:
        assert f"{email} / gorod-demo ({label})" in first
    assert any(line.startswith("OAuth-клиент gorod-web ") for line in first)
    assert any("demo-partner / demo-partner-secret" in line for line in first)
    assert any("gateway / gateway-demo-secret" in line for line in first)

    rows = await _users(kit)
    assert sorted(row.email for row in rows) == sorted(EMAILS)  # each once
    async with kit.session_factory() as session:
        for row in rows:
            assert row.email_verified_at is not None
            assert verify_password("gorod-demo", row.password_hash)
            granted = set(
                (await session.execute(select(user_roles.c.role).where(user_roles.c.user_id == row.id))).scalars()
            )
            assert granted == EMAILS[row.email]
            given = (await session.execute(select(consents).where(consents.c.user_id == row.id))).all()
            assert [(c.channel, c.withdrawn_at) for c in given] == [("demo", None)]
        count = await session.scalar(
            select(func.count())
            .select_from(oauth_clients)
            .where(oauth_clients.c.client_id.in_(["gorod-web", "demo-partner", "gateway"]))
        )
    assert count == 3

    web = await _client(kit, "gorod-web")
    assert (web.kind, web.secret_hash, web.disabled_at) == ("web", None, None)
    assert web.redirect_uris == ["http://127.0.0.1:8000/callback"]
    assert web.allowed_origins == ["http://127.0.0.1:8000"]
    assert "authorization_code" in web.grant_types
    assert "openid" in web.scopes

    partner = await _client(kit, "demo-partner")
    assert partner.kind == "partner"
    assert partner.grant_types == ["client_credentials"]
    assert {"open311", "problems:read", "problems:write", "analytics:read"} <= set(partner.scopes)  # Open311 POST
    assert "openid" not in partner.scopes  # a system, not a person: no sign-in
    assert verify_password("demo-partner-secret", partner.secret_hash)
    assert partner.can_introspect is False

    gateway = await _client(kit, "gateway")
    assert (gateway.kind, gateway.can_introspect) == ("resource_server", True)
    assert verify_password("gateway-demo-secret", gateway.secret_hash)


async def test_loading_again_repairs_what_was_changed(auth_settings: AuthSettings, kit: ServiceContext) -> None:
    await demo.load(auth_settings)
    async with kit.unit_of_work() as uow:
        await uow.session.execute(
            update(oauth_clients).where(oauth_clients.c.client_id == "demo-partner").values(disabled_at=func.now())
        )
        await uow.session.execute(
            update(users).where(users.c.email == "official@example.org").values(password_hash="$argon2id$broken")
        )
        official = (await uow.session.execute(select(users.c.id).where(users.c.email == "official@example.org"))).one()
        await uow.session.execute(user_roles.delete().where(user_roles.c.user_id == official.id))
        await uow.commit()

    await demo.load(auth_settings)

    partner = await _client(kit, "demo-partner")
    assert partner.disabled_at is None
    [row] = [row for row in await _users(kit) if row.email == "official@example.org"]
    assert verify_password("gorod-demo", row.password_hash)
    async with kit.session_factory() as session:
        roles = set((await session.execute(select(user_roles.c.role).where(user_roles.c.user_id == row.id))).scalars())
    assert roles == {"official"}
