"""The user's own account API (/api/v1/me): profile by session or bearer, the 152-FZ export and erasure.

Bearer tokens are minted with the app's own key ring and checked by a TokenVerifier that fetches the JWKS
through ASGI (the app's own ``/.well-known/jwks.json`` when it exists, else a tiny JWKS app over the same
key ring).
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from auth.db import users as users_db
from auth.db.tables import (
    audit_log,
    authorization_codes,
    browser_sessions,
    consent_documents,
    consents,
    email_tokens,
    external_identities,
    identity_providers,
    login_throttle,
    oauth_clients,
    refresh_tokens,
    revoked_access_tokens,
    user_roles,
    users,
)
from auth.domain.secrets import new_token, token_hash
from auth.settings import AuthSettings
from auth.usecases.sessions import start_session
from servicekit.app import ServiceContext
from servicekit.tables import kit_tables

from .conftest import Mint

pytestmark = pytest.mark.integration

SCHEMA = Path(__file__).resolve().parents[3] / "contracts" / "events" / "auth" / "user.erased.v1.json"


# --- fixtures and helpers ------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def sign_in(
    kit: ServiceContext,
    client: httpx.AsyncClient,
    settings: AuthSettings,
    user_id: uuid.UUID,
    *,
    ago: timedelta = timedelta(0),
) -> str:
    """Start a browser session (signed in ``ago``) and give its cookie to the client."""
    async with kit.unit_of_work() as uow:
        raw = await start_session(uow.session, user_id, ttl=settings.session_ttl)
        if ago:
            await uow.session.execute(
                update(browser_sessions)
                .where(browser_sessions.c.id_hash == token_hash(raw))
                .values(auth_time=datetime.now(UTC) - ago)
            )
        await uow.commit()
    client.cookies.set(settings.session_cookie, raw)
    return raw


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert any("а" <= ch.lower() <= "я" for ch in body["detail"]), body["detail"]
    return body


@dataclass(frozen=True)
class Seeded:
    """Marker strings and secrets of one user's seeded data, to find (or not find) in an export."""

    tag: str
    consent_version: str
    provider: str
    external_subject: str
    client_id: str
    secret_hashes: tuple[str, ...]


async def seed_personal_data(kit: ServiceContext, user_id: uuid.UUID) -> Seeded:
    """One row of every kind auth holds about a person."""
    tag = uuid.uuid4().hex[:12]
    now = datetime.now(UTC)
    refresh_hash, code_hash, link_hash = (token_hash(new_token()) for _ in range(3))
    async with kit.unit_of_work() as uow:
        s = uow.session
        await s.execute(
            consent_documents.insert().values(
                version=f"v-{tag}",
                title=f"Согласие {tag}",
                body="Текст согласия на обработку персональных данных.",
                # In the past, so it never becomes the current document other tests register under.
                published_at=datetime(2000, 1, 1, tzinfo=UTC),
            )
        )
        await s.execute(consents.insert().values(user_id=user_id, document_version=f"v-{tag}", channel="web"))
        await s.execute(
            identity_providers.insert().values(
                slug=f"idp-{tag}", display_name=f"IdP {tag}", settings={"k": tag}, enabled=False
            )
        )
        await s.execute(
            external_identities.insert().values(
                provider=f"idp-{tag}",
                subject=f"ext-{tag}",
                user_id=user_id,
                claims={"email": f"claims-{tag}@dobro.example", "volunteer_id": f"vol-{tag}"},
            )
        )
        await s.execute(
            oauth_clients.insert().values(
                client_id=f"client-{tag}",
                name=f"Клиент {tag}",
                kind="web",
                redirect_uris=[f"https://{tag}.example/cb"],
                grant_types=["authorization_code", "refresh_token"],
            )
        )
        await s.execute(
            refresh_tokens.insert().values(
                token_hash=refresh_hash,
                family_id=uuid.uuid4(),
                client_id=f"client-{tag}",
                user_id=user_id,
                scope=f"openid scope-{tag}",
                auth_time=now,
                expires_at=now + timedelta(days=30),
            )
        )
        await s.execute(
            authorization_codes.insert().values(
                code_hash=code_hash,
                client_id=f"client-{tag}",
                user_id=user_id,
                redirect_uri=f"https://{tag}.example/cb",
                scope="openid",
                code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                auth_time=now,
                expires_at=now + timedelta(minutes=1),
            )
        )
        await s.execute(
            email_tokens.insert().values(
                token_hash=link_hash,
                user_id=user_id,
                purpose="confirm_email",
                email=f"link-{tag}@example.org",
                expires_at=now + timedelta(days=1),
            )
        )
        await s.execute(login_throttle.insert().values(key=f"account:{user_id}", failures=2))
        await users_db.grant_role(s, user_id, "volunteer", by=None)
        await users_db.audit(s, f"test.{tag}", actor_id=None, subject_id=user_id, details={"marker": tag})
        await uow.commit()
    return Seeded(
        tag=tag,
        consent_version=f"v-{tag}",
        provider=f"idp-{tag}",
        external_subject=f"ext-{tag}",
        client_id=f"client-{tag}",
        secret_hashes=(refresh_hash, code_hash, link_hash),
    )


async def rows(kit: ServiceContext, table: Any, *where: Any) -> list[Any]:
    async with kit.session_factory() as session:
        return list((await session.execute(select(table).where(*where))).all())


async def erased_events(kit: ServiceContext, user_id: uuid.UUID) -> list[dict[str, Any]]:
    outbox = kit_tables("auth").outbox
    async with kit.session_factory() as session:
        result = await session.execute(
            select(outbox.c.body).where(
                outbox.c.routing_key == "auth.user.erased.v1", outbox.c.body["subject"].astext == str(user_id)
            )
        )
        return [row.body for row in result]


def validate_against_contract(data: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text())
    try:
        import jsonschema  # not a dependency yet: fall back to checking the schema's few rules by hand
    except ImportError:
        assert schema["type"] == "object"
        assert isinstance(data, dict)
        missing = set(schema["required"]) - set(data)
        assert not missing, f"missing required fields {missing}"
        for name, rule in schema["properties"].items():
            if name not in data:
                continue
            assert rule["type"] == "string"
            assert isinstance(data[name], str), name
            if rule.get("format") == "uuid":
                uuid.UUID(data[name])
            if rule.get("format") == "date-time":
                assert datetime.fromisoformat(data[name]).tzinfo is not None, name
        if schema.get("additionalProperties") is False:
            assert set(data) <= set(schema["properties"])
    else:
        jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())


# --- who may call --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/api/v1/me"), ("GET", "/api/v1/me/export"), ("DELETE", "/api/v1/me")]
)
async def test_anonymous_caller_gets_401(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_revoked_session_cookie_gets_401(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any
) -> None:
    user = await make_user()
    raw = await sign_in(kit, client, auth_settings, user.id)
    async with kit.unit_of_work() as uow:
        await uow.session.execute(
            update(browser_sessions)
            .where(browser_sessions.c.id_hash == token_hash(raw))
            .values(revoked_at=datetime.now(UTC))
        )
        await uow.commit()
    assert_problem(await client.get("/api/v1/me"), 401)


async def test_an_invalid_bearer_token_is_401_even_with_a_session(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any, mint: Mint
) -> None:
    user = await make_user()
    await sign_in(kit, client, auth_settings, user.id)
    token = await mint(user.id)
    assert_problem(await client.get("/api/v1/me", headers=bearer(token[:-3] + "AAA")), 401)


async def test_a_token_of_a_program_is_403(client: httpx.AsyncClient, mint: Mint) -> None:
    assert_problem(await client.get("/api/v1/me", headers=bearer(await mint("demo-partner"))), 403)


# --- the profile ---------------------------------------------------------------------------------


async def test_me_with_the_session_cookie(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any
) -> None:
    user = await make_user(roles=("official",), full_name="Анна Смирнова")
    await sign_in(kit, client, auth_settings, user.id)

    response = await client.get("/api/v1/me")

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["id"] == str(user.id)
    assert body["email"] == user.email
    assert body["email_verified"] is True
    assert body["name"] == "Анна Смирнова"
    assert body["phone"] is None
    assert body["home_territory"] is None
    assert body["roles"] == ["citizen", "official"]


async def test_me_with_a_bearer_token(client: httpx.AsyncClient, kit: ServiceContext, mint: Mint) -> None:
    async with kit.unit_of_work() as uow:
        user_id = await users_db.insert_user(
            uow.session,
            email=f"bearer-{uuid.uuid4().hex[:8]}@example.org",
            password_hash=None,
            full_name="Пётр Волков",
            phone="+79990001122",
            home_territory="45000000",
        )
        await uow.commit()

    response = await client.get("/api/v1/me", headers=bearer(await mint(user_id)))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == str(user_id)
    assert body["email_verified"] is False
    assert (body["name"], body["phone"], body["home_territory"]) == ("Пётр Волков", "+79990001122", "45000000")
    assert body["roles"] == ["citizen"]


async def test_the_bearer_token_wins_over_the_session_cookie(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any, mint: Mint
) -> None:
    by_session, by_token = await make_user(), await make_user()
    await sign_in(kit, client, auth_settings, by_session.id)
    response = await client.get("/api/v1/me", headers=bearer(await mint(by_token.id)))
    assert response.json()["id"] == str(by_token.id)


# --- the export ----------------------------------------------------------------------------------


async def test_export_holds_every_category_and_nothing_of_another_user(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any
) -> None:
    user, other = await make_user(), await make_user()
    mine = await seed_personal_data(kit, user.id)
    theirs = await seed_personal_data(kit, other.id)
    async with kit.unit_of_work() as uow:  # the other user as the actor of something about ours
        await users_db.audit(uow.session, "role.granted", actor_id=other.id, subject_id=user.id, details={"role": "x"})
        await uow.commit()
    await sign_in(kit, client, auth_settings, user.id)

    response = await client.get("/api/v1/me/export")

    assert response.status_code == 200, response.text
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["content-type"].startswith("application/json")
    data = response.json()
    assert data["account"]["id"] == str(user.id)
    assert data["account"]["email"] == user.email
    assert data["account"]["has_password"] is True
    assert data["roles"] == ["citizen", "volunteer"]
    assert [g["role"] for g in data["role_grants"]] == ["volunteer"]
    (consent,) = data["consents"]
    assert consent["document_version"] == mine.consent_version
    assert consent["channel"] == "web"
    assert consent["accepted_at"]
    (identity,) = data["external_identities"]
    assert (identity["provider"], identity["subject"]) == (mine.provider, mine.external_subject)
    assert identity["claims"]["volunteer_id"] == f"vol-{mine.tag}"
    (session,) = data["sessions"]
    assert set(session) == {"signed_in_at", "expires_at"}
    (grant,) = data["oauth_grants"]
    assert (grant["client_id"], grant["scope"]) == (mine.client_id, f"openid scope-{mine.tag}")
    assert grant["issued_at"]
    assert grant["expires_at"]
    (code,) = data["authorization_codes"]
    assert code["client_id"] == mine.client_id
    (link,) = data["email_links"]
    assert link["email"] == f"link-{mine.tag}@example.org"
    assert data["sign_in_throttle"]["failures"] == 2
    actions = [entry["action"] for entry in data["audit"]]
    assert f"test.{mine.tag}" in actions
    assert {entry["by"] for entry in data["audit"]} == {"system", "staff"}

    text = response.text
    for secret in mine.secret_hashes:
        assert secret not in text
    for foreign in (str(other.id), other.email, theirs.tag):
        assert foreign not in text

    exported = await rows(kit, audit_log, audit_log.c.subject_id == user.id, audit_log.c.action == "account.exported")
    assert len(exported) == 1


async def test_export_by_bearer_token(client: httpx.AsyncClient, make_user: Any, mint: Mint) -> None:
    user = await make_user()
    response = await client.get("/api/v1/me/export", headers=bearer(await mint(user.id)))
    assert response.status_code == 200
    assert response.json()["account"]["id"] == str(user.id)


# --- erasure -------------------------------------------------------------------------------------


async def test_erasure_with_a_wrong_password_is_403_and_erases_nothing(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any
) -> None:
    user = await make_user()
    await seed_personal_data(kit, user.id)
    await sign_in(kit, client, auth_settings, user.id)

    response = await client.request("DELETE", "/api/v1/me", json={"password": "not the password"})

    assert_problem(response, 403)
    (row,) = await rows(kit, users, users.c.id == user.id)
    assert (row.email, row.erased_at) == (user.email, None)
    assert row.password_hash is not None
    assert await rows(kit, consents, consents.c.user_id == user.id)
    assert await rows(kit, user_roles, user_roles.c.user_id == user.id)
    assert await rows(kit, external_identities, external_identities.c.user_id == user.id)
    assert not await rows(
        kit, refresh_tokens, refresh_tokens.c.user_id == user.id, refresh_tokens.c.revoked_at.isnot(None)
    )
    assert await erased_events(kit, user.id) == []
    refusals = await rows(
        kit, audit_log, audit_log.c.subject_id == user.id, audit_log.c.action == "account.erasure_refused"
    )
    assert len(refusals) == 1
    assert (await client.get("/api/v1/me")).status_code == 200  # still signed in


async def test_erasure_by_session_without_the_password_is_403(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any
) -> None:
    user = await make_user()
    await sign_in(kit, client, auth_settings, user.id)  # signed in just now: still the password is needed
    assert_problem(await client.request("DELETE", "/api/v1/me"), 403)
    assert_problem(await client.request("DELETE", "/api/v1/me", json={}), 403)
    (row,) = await rows(kit, users, users.c.id == user.id)
    assert row.erased_at is None


async def test_erasure_anonymises_revokes_and_publishes(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any
) -> None:
    user = await make_user(roles=("official",))
    seeded = await seed_personal_data(kit, user.id)
    other = await make_user()
    other_seeded = await seed_personal_data(kit, other.id)
    raw = await sign_in(kit, client, auth_settings, user.id)
    async with kit.unit_of_work() as uow:  # a second browser of the same user
        await start_session(uow.session, user.id, ttl=auth_settings.session_ttl)
        await uow.commit()

    response = await client.request("DELETE", "/api/v1/me", json={"password": user.password})

    assert response.status_code == 204, response.text
    assert auth_settings.session_cookie in response.headers["set-cookie"]  # the cookie is cleared
    (row,) = await rows(kit, users, users.c.id == user.id)
    assert row.erased_at is not None
    assert (row.email, row.email_verified_at, row.password_hash, row.full_name, row.phone, row.home_territory) == (
        None,
        None,
        None,
        "",
        None,
        None,
    )
    assert await rows(kit, user_roles, user_roles.c.user_id == user.id) == []
    assert await rows(kit, consents, consents.c.user_id == user.id) == []
    assert await rows(kit, external_identities, external_identities.c.user_id == user.id) == []
    assert await rows(kit, email_tokens, email_tokens.c.user_id == user.id) == []
    assert await rows(kit, authorization_codes, authorization_codes.c.user_id == user.id) == []
    assert await rows(kit, login_throttle, login_throttle.c.key == f"account:{user.id}") == []
    sessions = await rows(kit, browser_sessions, browser_sessions.c.user_id == user.id)
    assert len(sessions) == 2
    assert all(s.revoked_at is not None for s in sessions)
    (token,) = await rows(kit, refresh_tokens, refresh_tokens.c.user_id == user.id)
    assert token.token_hash == seeded.secret_hashes[0]
    assert token.revoked_at is not None

    (audit,) = await rows(kit, audit_log, audit_log.c.subject_id == user.id, audit_log.c.action == "account.erased")
    assert (audit.actor_id, audit.subject_id) == (user.id, user.id)
    assert user.email not in json.dumps(audit.details)

    (event,) = await erased_events(kit, user.id)
    assert event["type"] == "ru.gorod.auth.user.erased.v1"
    assert event["subject"] == str(user.id)
    assert event["data"]["user_id"] == str(user.id)
    validate_against_contract(event["data"])
    assert datetime.fromisoformat(event["data"]["erased_at"]) == row.erased_at

    # The other user is untouched.
    (other_row,) = await rows(kit, users, users.c.id == other.id)
    assert other_row.email == other.email
    assert other_row.erased_at is None
    assert await rows(kit, consents, consents.c.user_id == other.id)
    (other_token,) = await rows(kit, refresh_tokens, refresh_tokens.c.token_hash == other_seeded.secret_hashes[0])
    assert other_token.revoked_at is None

    # The old id can never sign in; the e-mail is free again.
    client.cookies.set(auth_settings.session_cookie, raw)
    assert_problem(await client.get("/api/v1/me"), 401)
    async with kit.unit_of_work() as uow:
        assert await users_db.user_by_email(uow.session, user.email) is None
        assert await users_db.user_by_id(uow.session, user.id) is None
        new_id = await users_db.insert_user(uow.session, email=user.email, password_hash=None)
        await uow.commit()
    assert new_id != user.id


async def test_erasing_an_erased_account_again_is_refused(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any, mint: Mint
) -> None:
    user = await make_user()
    token = await mint(user.id)
    assert (await client.request("DELETE", "/api/v1/me", headers=bearer(token))).status_code == 204
    assert_problem(await client.request("DELETE", "/api/v1/me", headers=bearer(await mint(user.id))), 401)
    assert len(await erased_events(kit, user.id)) == 1


async def test_federated_account_erases_with_a_recent_sign_in_only(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings
) -> None:
    async with kit.unit_of_work() as uow:
        user_id = await users_db.insert_user(
            uow.session, email=f"dobro-{uuid.uuid4().hex[:8]}@example.org", password_hash=None
        )
        await uow.commit()

    await sign_in(kit, client, auth_settings, user_id, ago=timedelta(minutes=30))
    assert_problem(await client.request("DELETE", "/api/v1/me"), 403)
    (row,) = await rows(kit, users, users.c.id == user_id)
    assert row.erased_at is None

    await sign_in(kit, client, auth_settings, user_id, ago=timedelta(minutes=2))
    response = await client.request("DELETE", "/api/v1/me")
    assert response.status_code == 204, response.text
    (row,) = await rows(kit, users, users.c.id == user_id)
    assert row.erased_at is not None
    assert len(await erased_events(kit, user_id)) == 1


async def test_erasure_by_bearer_needs_a_recent_sign_in_and_revokes_the_token(
    client: httpx.AsyncClient, kit: ServiceContext, make_user: Any, mint: Mint
) -> None:
    user = await make_user()
    stale = await mint(user.id, auth_time=datetime.now(UTC) - timedelta(minutes=11))
    assert_problem(await client.request("DELETE", "/api/v1/me", headers=bearer(stale)), 403)
    assert await erased_events(kit, user.id) == []

    fresh = await mint(user.id, auth_time=datetime.now(UTC) - timedelta(minutes=1))
    response = await client.request("DELETE", "/api/v1/me", headers=bearer(fresh))

    assert response.status_code == 204, response.text
    jti = json.loads(_b64(fresh.split(".")[1]))["jti"]
    assert await rows(kit, revoked_access_tokens, revoked_access_tokens.c.jti == jti)
    assert_problem(await client.get("/api/v1/me", headers=bearer(fresh)), 401)


async def test_repeated_wrong_passwords_lock_erasure(
    client: httpx.AsyncClient, kit: ServiceContext, auth_settings: AuthSettings, make_user: Any
) -> None:
    user = await make_user()
    await sign_in(kit, client, auth_settings, user.id)
    for _ in range(5):
        assert_problem(await client.request("DELETE", "/api/v1/me", json={"password": "guess"}), 403)
    locked = await client.request("DELETE", "/api/v1/me", json={"password": user.password})
    assert_problem(locked, 429)
    assert int(locked.headers["retry-after"]) > 0
    (row,) = await rows(kit, users, users.c.id == user.id)
    assert row.erased_at is None


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
