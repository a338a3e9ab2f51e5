"""Security of the account pages: CSRF on every form, login throttling per account and per address with an
audited lockout, no open redirect after sign-in, never framed, profile only when signed in, bad input
refused in Russian with nothing created, sign-out."""

from __future__ import annotations

import asyncio
import hashlib
import html
import random
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from auth.db.tables import audit_log, login_throttle, users
from auth.usecases.accounts import ensure_current_consent_document
from auth.usecases.federation import configure_provider, set_provider_enabled
from servicekit.app import ServiceContext

from .conftest import BASE_URL, PASSWORD, MakeUser

pytestmark = pytest.mark.integration

Browser = Callable[..., httpx.AsyncClient]


def random_ip() -> str:
    return f"10.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


@pytest.fixture
async def browser(auth_app: FastAPI) -> AsyncIterator[Browser]:
    """Browsers each from an address of their own: throttling counts per address, and the shared ``client``
    fixture's address must never be locked by these tests."""
    opened: list[httpx.AsyncClient] = []

    def open_browser(ip: str | None = None) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=auth_app, client=(ip or random_ip(), 40000))
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
        opened.append(client)
        return client

    yield open_browser
    for client in opened:
        await client.aclose()


async def csrf_of(client: httpx.AsyncClient, path: str = "/signin") -> str:
    if "gorod_csrf" not in client.cookies:
        assert (await client.get(path)).status_code == 200
    return client.cookies["gorod_csrf"]


async def sign_in(client: httpx.AsyncClient, email: str, password: str, next_: str = "") -> httpx.Response:
    csrf = await csrf_of(client)
    return await client.post("/signin", data={"csrf_token": csrf, "email": email, "password": password, "next": next_})


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


async def audit_rows(kit: ServiceContext, **where: Any) -> list[Any]:
    async with kit.session_factory() as session:
        query = select(audit_log).where(audit_log.c.action == "login.locked")
        for column, value in where.items():
            query = query.where(audit_log.c[column] == value)
        return list((await session.execute(query)).all())


# --- CSRF -----------------------------------------------------------------------------------------------

FORMS = {
    "/signin": {"email": "x@example.org", "password": "whatever-password-1"},
    "/register": {
        "email": "csrf-{uid}@example.org",
        "password": "Correct horse 2026",
        "full_name": "Анна",
        "consent": "yes",
        "consent_version": "2026-11-01",
    },
    "/confirm-email": {"email": "x@example.org"},
    "/password/forgot": {"email": "x@example.org"},
    "/password/reset": {"token": "x", "password": "Correct horse 2026"},
    "/signout": {},
    "/profile": {"full_name": "Кто-то", "email": "x@example.org"},
}


@pytest.mark.parametrize("path", list(FORMS))
@pytest.mark.parametrize("token", [None, "wrong-token-wrong-token-1234"])
async def test_every_form_refuses_a_missing_or_wrong_csrf_token(
    path: str, token: str | None, browser: Browser, make_user: MakeUser, kit: ServiceContext
) -> None:
    client = browser()
    user = await make_user()
    assert (await sign_in(client, user.email, user.password)).status_code == 303  # even when signed in
    assert client.cookies.get("gorod_csrf")
    uid = uuid.uuid4().hex[:10]
    data = {key: value.format(uid=uid) for key, value in FORMS[path].items()}
    if token is not None:
        data["csrf_token"] = token
    answer = await client.post(path, data=data)
    assert answer.status_code == 403, answer.text
    assert "Форма устарела" in answer.text
    assert 'role="alert"' in answer.text
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    if path == "/register":
        async with kit.session_factory() as session:
            assert await session.scalar(select(users.c.id).where(users.c.email == data["email"])) is None
    if path == "/signout":
        assert (await client.get("/profile")).status_code == 200  # still signed in


async def test_csrf_cookie_from_another_browser_does_not_help(browser: Browser, make_user: MakeUser) -> None:
    user = await make_user()
    attacker, victim = browser(), browser()
    attacker_token = await csrf_of(attacker)
    await csrf_of(victim)
    answer = await victim.post(
        "/signin", data={"csrf_token": attacker_token, "email": user.email, "password": user.password}
    )
    assert answer.status_code == 403


# --- throttling -----------------------------------------------------------------------------------------


async def test_account_locks_after_five_wrong_passwords(
    browser: Browser, make_user: MakeUser, kit: ServiceContext
) -> None:
    user = await make_user()
    client = browser()
    for attempt in range(1, 5):
        wrong = await sign_in(client, user.email, f"wrong password {attempt}")
        assert wrong.status_code == 401
        assert "Неверный адрес электронной почты или пароль" in wrong.text
    assert await audit_rows(kit, subject_id=user.id) == []

    fifth = await sign_in(client, user.email, "wrong password 5")
    assert fifth.status_code == 429
    assert "заблокирован" in fifth.text
    assert 'role="alert"' in fifth.text
    sixth_wrong = await sign_in(browser(), user.email, "wrong password 6")  # any address: the account is locked
    right = await sign_in(client, user.email, user.password)
    assert sixth_wrong.status_code == right.status_code == 429
    assert without_csrf(right.text) == without_csrf(fifth.text)  # the same wording, right password or not
    assert "gorod_session" not in right.headers.get("set-cookie", "")

    rows = await audit_rows(kit, subject_id=user.id)
    assert len(rows) == 1
    assert rows[0].actor_id is None
    assert rows[0].details["scope"] == "account"
    assert user.email not in str(rows[0].details)

    # The lock ends after its time (moved into the past here): the right password works again.
    async with kit.session_factory() as session:
        await session.execute(
            update(login_throttle)
            .where(login_throttle.c.key == f"account:{user.id}")
            .values(locked_until=func.now() - func.make_interval(0, 0, 0, 0, 0, 0, 1))
        )
        await session.commit()
    assert (await sign_in(client, user.email, user.password)).status_code == 303


async def test_parallel_guesses_do_not_slip_past_the_limit(
    browser: Browser, make_user: MakeUser, kit: ServiceContext
) -> None:
    user = await make_user()
    clients = [browser() for _ in range(8)]
    for client in clients:
        await csrf_of(client)
    answers = await asyncio.gather(*(sign_in(c, user.email, f"parallel guess {n}") for n, c in enumerate(clients)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 4 + [429] * 4
    assert len(await audit_rows(kit, subject_id=user.id)) == 1


async def test_unknown_account_locks_like_a_real_one(browser: Browser) -> None:
    """A lock must not tell whether an account exists."""
    client = browser()
    email = f"nobody-{uuid.uuid4().hex[:10]}@example.org"
    answers = [await sign_in(client, email, f"guess number {n}") for n in range(5)]
    assert [a.status_code for a in answers] == [401, 401, 401, 401, 429]
    assert "Слишком много неудачных попыток входа в эту учётную запись" in answers[-1].text


async def test_address_locks_after_twenty_failures(browser: Browser, make_user: MakeUser, kit: ServiceContext) -> None:
    ip = random_ip()
    client = browser(ip)
    user = await make_user()
    statuses = [
        (await sign_in(client, f"guess-{uuid.uuid4().hex[:8]}@example.org", "wrong password 1")).status_code
        for _ in range(20)
    ]
    assert statuses == [401] * 19 + [429]
    locked = await sign_in(client, user.email, user.password)
    assert locked.status_code == 429
    assert "с вашего устройства или сети" in locked.text
    assert (await sign_in(browser(), user.email, user.password)).status_code == 303  # other addresses are fine

    ip_hash = hashlib.sha256(ip.encode()).hexdigest()
    rows = [row for row in await audit_rows(kit) if row.details.get("ip_sha256") == ip_hash]
    assert len(rows) == 1
    assert rows[0].details["scope"] == "ip"
    assert rows[0].subject_id is None
    assert ip not in str(rows[0].details)
    async with kit.session_factory() as session:
        keys = list(await session.scalars(select(login_throttle.c.key).where(login_throttle.c.key.contains(ip))))
    assert keys == []  # the address itself is not stored


async def test_a_right_password_clears_the_account_count(browser: Browser, make_user: MakeUser) -> None:
    user = await make_user()
    client = browser()
    for _ in range(4):
        assert (await sign_in(client, user.email, "wrong password x")).status_code == 401
    assert (await sign_in(client, user.email, user.password)).status_code == 303
    other = browser()
    for _ in range(4):
        assert (await sign_in(other, user.email, "wrong password y")).status_code == 401


# --- redirects after sign-in ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target", ["//evil.example", "//evil.example/path", "/\\evil.example", "https://evil.example/", "\t//evil.example"]
)
async def test_sign_in_never_redirects_to_another_site(target: str, browser: Browser, make_user: MakeUser) -> None:
    user = await make_user()
    client = browser()
    answer = await sign_in(client, user.email, user.password, next_=target)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/profile"
    again = await client.get("/signin", params={"next": target})
    assert again.status_code == 303
    assert again.headers["location"] == "/profile"


async def test_signed_in_browser_goes_straight_to_next(
    browser: Browser, make_user: MakeUser, kit: ServiceContext
) -> None:
    slug = f"dobro{uuid.uuid4().hex[:8]}"
    async with kit.unit_of_work() as uow:
        await configure_provider(
            uow.session,
            slug,
            "DOBRO.RU",
            {
                "protocol": "oidc",
                "discovery_url": "https://dobro.example/.well-known/openid-configuration",
                "client_id": "gorod",
                "scopes": ["openid", "email"],
                "claims": {"subject": "sub", "email": "email"},
            },
        )
        await uow.commit()
    user = await make_user()
    client = browser()
    try:
        page = await client.get("/signin", params={"next": "/oauth2/authorize?client_id=gorod-web&state=a"})
    finally:
        async with kit.unit_of_work() as uow:
            await set_provider_enabled(uow.session, slug, False)
            await uow.commit()
    assert page.status_code == 200
    assert f'href="/signin/{slug}?next=/oauth2/authorize%3Fclient_id%3Dgorod-web%26state%3Da"' in page.text
    assert "Войти через DOBRO.RU" in page.text
    await sign_in(client, user.email, user.password)
    answer = await client.get("/signin", params={"next": "/oauth2/authorize?client_id=gorod-web&state=a"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/oauth2/authorize?client_id=gorod-web&state=a"
    again = await client.get("/signin", params={"next": "/profile", "prompt": "login"})
    assert again.status_code == 200, "prompt=login asks for the password again even when signed in"


# --- frames, profile, sign-out --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/signin",
        "/register",
        "/password/forgot",
        "/password/reset?token=nope",
        "/confirm-email?token=nope",
        "/signout",
        "/profile",
    ],
)
async def test_pages_are_never_framed(path: str, browser: Browser, make_user: MakeUser) -> None:
    client = browser()
    user = await make_user()
    if path in ("/profile", "/signout"):
        await sign_in(client, user.email, user.password)
    answer = await client.get(path)
    assert answer.status_code in (200, 400)
    assert answer.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY"
    assert '<html lang="ru">' in answer.text


async def test_profile_requires_sign_in(browser: Browser, make_user: MakeUser, kit: ServiceContext) -> None:
    client = browser()
    page = await client.get("/profile")
    assert page.status_code == 303
    assert page.headers["location"] == "/signin?next=/profile"
    user = await make_user(full_name="Пётр Иванов")
    csrf = await csrf_of(client)
    forged = await client.post("/profile", data={"csrf_token": csrf, "full_name": "Взломщик", "email": user.email})
    assert forged.status_code == 303
    assert forged.headers["location"] == "/signin?next=/profile"
    bogus = browser()
    bogus.cookies.set("gorod_session", "not-a-session")
    assert (await bogus.get("/profile")).status_code == 303
    async with kit.session_factory() as session:
        assert await session.scalar(select(users.c.full_name).where(users.c.id == user.id)) == "Пётр Иванов"


async def test_sign_out_ends_the_session(browser: Browser, make_user: MakeUser) -> None:
    user = await make_user()
    client = browser()
    await sign_in(client, user.email, user.password)
    raw = client.cookies["gorod_session"]
    confirm = await client.get("/signout")
    assert confirm.status_code == 200
    assert 'action="/signout"' in confirm.text
    assert (await client.get("/profile")).status_code == 200  # GET alone signs nobody out
    done = await client.post("/signout", data={"csrf_token": client.cookies["gorod_csrf"]})
    assert done.status_code == 200
    assert "Вы вышли" in done.text
    cleared = next(c for c in done.headers.get_list("set-cookie") if c.startswith("gorod_session="))
    assert 'gorod_session=""' in cleared or "max-age=0" in cleared.lower()
    stolen = browser()
    stolen.cookies.set("gorod_session", raw)
    assert (await stolen.get("/profile")).status_code == 303  # the old cookie is dead on the server too


# --- bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"password": "password"}, "password", "не короче 10"),
        ({"password": "onlylowercaseletters"}, "password", "только из букв одного регистра"),
        ({"email": "not-an-email"}, "email", "ошибка"),
        ({"consent": ""}, "consent", "нужно согласие"),
        ({"home_territory": "1234"}, "home_territory", "8 или 11 цифр"),
        ({"full_name": " "}, "full_name", "как к вам обращаться"),
    ],
)
async def test_bad_registration_is_refused_in_russian_and_creates_nothing(
    overrides: dict[str, str], field: str, message: str, browser: Browser, kit: ServiceContext
) -> None:
    client = browser()
    page = await client.get("/register")
    version = re.search(r'name="consent_version" value="([^"]+)"', page.text)
    assert version
    email = f"bad-{uuid.uuid4().hex[:10]}@example.org"
    data = {
        "csrf_token": client.cookies["gorod_csrf"],
        "email": email,
        "password": "Correct horse 2026",
        "full_name": "Анна Смирнова",
        "phone": "",
        "home_territory": "",
        "consent": "yes",
        "consent_version": version.group(1),
        **overrides,
    }
    answer = await client.post("/register", data=data)
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    assert message.lower() in answer.text.lower()
    assert f'id="{field}-error"' in answer.text
    assert 'aria-invalid="true"' in answer.text
    assert f'value="{data["password"]}"' not in answer.text  # a password is never echoed
    async with kit.session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(users).where(users.c.email == email.lower()))
    assert count == 0


async def test_registration_page_shows_the_consent_document(browser: Browser, kit: ServiceContext) -> None:
    page = await browser().get("/register")
    assert page.status_code == 200
    async with kit.session_factory() as session:
        document = await ensure_current_consent_document(session)  # other tests may publish newer ones
    assert f'name="consent_version" value="{document.version}"' in page.text
    assert html.escape(document.title) in page.text
    assert html.escape(document.body.split("\n\n")[0]) in page.text
    assert re.search(r'<label for="consent"', page.text)
    assert re.search(r'<input id="consent" name="consent"', page.text)
    for name in ("email", "password", "full_name", "phone", "home_territory"):
        assert f'<label for="{name}">' in page.text
        assert f'id="{name}" name="{name}"' in page.text


async def test_wrong_password_default_client_is_untouched(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    """The shared ``client`` fixture's address still signs in: these tests lock only addresses of their own."""
    user = await make_user()
    assert (await sign_in(client, user.email, PASSWORD)).status_code == 303


async def test_signing_in_again_replaces_the_session(browser: Browser, make_user: MakeUser) -> None:
    first, second = await make_user(), await make_user()
    client = browser()
    await sign_in(client, first.email, first.password)
    old = client.cookies["gorod_session"]
    await sign_in(client, second.email, second.password)
    assert client.cookies["gorod_session"] != old
    replay = browser()
    replay.cookies.set("gorod_session", old)
    assert (await replay.get("/profile")).status_code == 303
