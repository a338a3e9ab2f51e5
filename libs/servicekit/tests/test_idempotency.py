"""Idempotency-Key on a POST that creates something, against the real PostgreSQL of the test stack."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from servicekit.http.idempotency import claim, complete, fingerprint, idempotency_key, purge_expired
from servicekit.http.problems import PROBLEM_JSON, ProblemError, install_problem_handlers
from servicekit.tables import kit_tables
from servicekit.uow import UnitOfWork

from .conftest import SCHEMA, widgets

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
keys_table = kit_tables(SCHEMA).idempotency_keys


class WidgetIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)


class WidgetOut(BaseModel):
    id: uuid.UUID
    name: str


@dataclass
class Hooks:
    """Lets a test hold a request right after it has claimed its key, or make it fail after its insert."""

    claimed: asyncio.Event = field(default_factory=asyncio.Event)
    gate: asyncio.Event | None = None
    fail_next: int = 0

    async def after_claim(self) -> None:
        self.claimed.set()
        if self.gate is not None:
            await self.gate.wait()

    def should_fail(self) -> bool:
        if self.fail_next:
            self.fail_next -= 1
            return True
        return False


def widgets_app(factory: async_sessionmaker[AsyncSession], hooks: Hooks) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/api/v1/widgets", status_code=201)
    async def create_widget(
        widget: WidgetIn,
        key: Annotated[str | None, Depends(idempotency_key)],
        client: Annotated[str, Header(alias="X-Client")] = "anonymous",
    ) -> JSONResponse:
        scope = f"widgets.create:{client}"  # a key is the client's own: scoped by who sends it
        async with UnitOfWork(factory, SCHEMA) as uow:
            if key is not None:
                stored = await claim(
                    uow.session,
                    uow.tables,
                    scope=scope,
                    key=key,
                    request_fingerprint=fingerprint(widget.model_dump(mode="json")),
                )
                if stored is not None:
                    return JSONResponse(stored.body, status_code=stored.status_code)
                await hooks.after_claim()
            widget_id = uuid.uuid4()
            await uow.session.execute(insert(widgets).values(id=widget_id, name=widget.name))
            if hooks.should_fail():
                raise RuntimeError("the disk is full")
            body = WidgetOut(id=widget_id, name=widget.name).model_dump(mode="json")
            if key is not None:
                await complete(uow.session, uow.tables, scope=scope, key=key, status_code=201, body=body)
            await uow.commit()
        return JSONResponse(body, status_code=201)

    return app


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
async def client(session_factory: async_sessionmaker[AsyncSession], hooks: Hooks) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=widgets_app(session_factory, hooks), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gorod.test", timeout=30) as c:
        yield c


async def _post(client: httpx.AsyncClient, name: str, key: str | None, *, who: str = "anna") -> httpx.Response:
    headers = {"X-Client": who}
    if key is not None:
        headers["Idempotency-Key"] = key
    return await client.post("/api/v1/widgets", json={"name": name}, headers=headers)


async def _count(engine: AsyncEngine, stmt: Any) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(stmt)).scalar_one())


async def _widgets(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(widgets.c.name).order_by(widgets.c.name))).scalars())


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert CYRILLIC.search(body["detail"])
    return body


async def test_a_retry_replays_the_first_answer_and_creates_one_row(
    client: httpx.AsyncClient, clean_db: AsyncEngine
) -> None:
    key = str(uuid.uuid4())
    first = await _post(client, "скамейка", key)
    assert first.status_code == 201
    created = first.json()
    assert created["name"] == "скамейка"

    for _ in range(3):
        again = await _post(client, "скамейка", key)
        assert again.status_code == 201
        assert again.json() == created

    assert await _widgets(clean_db) == ["скамейка"]
    async with clean_db.connect() as conn:
        row = (await conn.execute(select(keys_table))).one()
    assert (row.scope, row.key, row.status_code, row.response) == ("widgets.create:anna", key, 201, created)


async def test_the_same_request_written_differently_is_the_same_request(
    client: httpx.AsyncClient, clean_db: AsyncEngine
) -> None:
    first = await _post(client, "фонарь", "key-1")
    again = await client.post(
        "/api/v1/widgets",
        content='{ "name" :\n "фонарь" }'.encode(),
        headers={"Idempotency-Key": "key-1", "X-Client": "anna", "content-type": "application/json"},
    )
    assert (again.status_code, again.json()) == (201, first.json())
    assert await _widgets(clean_db) == ["фонарь"]


async def test_without_a_key_every_post_creates(client: httpx.AsyncClient, clean_db: AsyncEngine) -> None:
    first = await _post(client, "урна", None)
    second = await _post(client, "урна", None)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert await _widgets(clean_db) == ["урна", "урна"]
    assert await _count(clean_db, select(func.count()).select_from(keys_table)) == 0


async def test_the_same_key_with_a_different_request_is_refused(
    client: httpx.AsyncClient, clean_db: AsyncEngine
) -> None:
    key = str(uuid.uuid4())
    first = await _post(client, "скамейка", key)

    refused = await _post(client, "клумба", key)
    _assert_problem(refused, 422)

    assert await _widgets(clean_db) == ["скамейка"]
    replay = await _post(client, "скамейка", key)  # the original request still replays
    assert (replay.status_code, replay.json()) == (201, first.json())


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 256, id="256 chars"),
        pytest.param("k" * 300, id="300 chars"),
        pytest.param("two words", id="a space"),
        pytest.param("tab\there", id="a tab"),
        pytest.param("", id="empty"),
        pytest.param("ключ".encode(), id="not ascii"),
    ],
)
async def test_a_malformed_key_is_a_400(client: httpx.AsyncClient, clean_db: AsyncEngine, key: str | bytes) -> None:
    response = await client.post(
        "/api/v1/widgets",
        json={"name": "скамейка"},
        headers={b"Idempotency-Key": key if isinstance(key, bytes) else key.encode()},
    )

    body = _assert_problem(response, 400)
    assert "Idempotency-Key" in body["detail"]
    assert await _widgets(clean_db) == []


async def test_a_key_of_255_visible_characters_is_fine(client: httpx.AsyncClient, clean_db: AsyncEngine) -> None:
    key = ("!~" + "x" * 253)[:255]
    assert len(key) == 255
    assert (await _post(client, "скамейка", key)).status_code == 201
    assert (await _post(client, "скамейка", key)).status_code == 201
    assert await _widgets(clean_db) == ["скамейка"]


async def test_concurrent_requests_with_the_same_key_create_one_row(
    client: httpx.AsyncClient, clean_db: AsyncEngine
) -> None:
    key = str(uuid.uuid4())

    responses = await asyncio.gather(*(_post(client, "светофор", key) for _ in range(6)))

    assert {r.status_code for r in responses} == {201}
    assert len({r.text for r in responses}) == 1
    assert await _widgets(clean_db) == ["светофор"]


async def _wait_until_blocked_on_a_lock(engine: AsyncEngine, timeout: float = 10) -> None:
    """Until some other session of ours waits for a row lock on an idempotency key."""
    async with asyncio.timeout(timeout):
        while True:
            async with engine.connect() as conn:
                waiting = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                            " AND query LIKE '%idempotency_keys%' AND pid <> pg_backend_pid()"
                        )
                    )
                ).scalar_one()
            if waiting:
                return
            await asyncio.sleep(0.05)


async def test_a_concurrent_retry_waits_for_the_first_and_replays_its_answer(
    client: httpx.AsyncClient, clean_db: AsyncEngine, hooks: Hooks
) -> None:
    key = str(uuid.uuid4())
    hooks.gate = asyncio.Event()
    first = asyncio.create_task(_post(client, "светофор", key))
    await asyncio.wait_for(hooks.claimed.wait(), timeout=10)  # the first holds the key, uncommitted

    retry = asyncio.create_task(_post(client, "светофор", key))
    await _wait_until_blocked_on_a_lock(clean_db)
    assert not retry.done()

    hooks.gate.set()
    first_response, retry_response = await asyncio.wait_for(asyncio.gather(first, retry), timeout=20)

    assert first_response.status_code == retry_response.status_code == 201
    assert retry_response.json() == first_response.json()
    assert await _widgets(clean_db) == ["светофор"]


async def test_a_concurrent_retry_does_the_work_itself_if_the_first_rolls_back(
    client: httpx.AsyncClient, clean_db: AsyncEngine, hooks: Hooks
) -> None:
    key = str(uuid.uuid4())
    hooks.gate = asyncio.Event()
    hooks.fail_next = 1
    first = asyncio.create_task(_post(client, "светофор", key))
    await asyncio.wait_for(hooks.claimed.wait(), timeout=10)

    retry = asyncio.create_task(_post(client, "светофор", key))
    await _wait_until_blocked_on_a_lock(clean_db)

    hooks.gate.set()
    first_response, retry_response = await asyncio.wait_for(asyncio.gather(first, retry), timeout=20)

    _assert_problem(first_response, 500)
    assert retry_response.status_code == 201
    assert await _widgets(clean_db) == ["светофор"]
    replay = await _post(client, "светофор", key)
    assert replay.json() == retry_response.json()


async def test_a_key_whose_first_transaction_rolled_back_can_be_used_again(
    client: httpx.AsyncClient, clean_db: AsyncEngine, hooks: Hooks
) -> None:
    key = str(uuid.uuid4())
    hooks.fail_next = 1

    _assert_problem(await _post(client, "скамейка", key), 500)
    assert await _widgets(clean_db) == []
    assert await _count(clean_db, select(func.count()).select_from(keys_table)) == 0

    second = await _post(client, "скамейка", key)
    assert second.status_code == 201
    assert (await _post(client, "скамейка", key)).json() == second.json()
    assert await _widgets(clean_db) == ["скамейка"]


async def test_keys_are_scoped(client: httpx.AsyncClient, clean_db: AsyncEngine) -> None:
    key = "my-first-widget"

    anna = await _post(client, "скамейка", key, who="anna")
    boris = await _post(client, "скамейка", key, who="boris")
    boris_other = await _post(client, "клумба", key, who="vera")

    assert anna.status_code == boris.status_code == boris_other.status_code == 201
    assert len({anna.json()["id"], boris.json()["id"], boris_other.json()["id"]}) == 3
    assert await _widgets(clean_db) == ["клумба", "скамейка", "скамейка"]
    assert (await _post(client, "скамейка", key, who="boris")).json() == boris.json()
    assert await _count(clean_db, select(func.count()).select_from(keys_table)) == 3


async def test_claim_after_rollback_is_free_again(session_factory: async_sessionmaker[AsyncSession]) -> None:
    fp = fingerprint({"name": "скамейка"})
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        assert await claim(uow.session, uow.tables, scope="s", key="k", request_fingerprint=fp) is None
        await uow.rollback()

    async with UnitOfWork(session_factory, SCHEMA) as uow:
        assert await claim(uow.session, uow.tables, scope="s", key="k", request_fingerprint=fp) is None
        await complete(uow.session, uow.tables, scope="s", key="k", status_code=202, body={"ok": "да"})
        await uow.commit()

    async with UnitOfWork(session_factory, SCHEMA) as uow:
        stored = await claim(uow.session, uow.tables, scope="s", key="k", request_fingerprint=fp)
    assert stored is not None
    assert (stored.status_code, stored.body) == (202, {"ok": "да"})


async def test_a_key_committed_without_an_answer_is_a_409(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    fp = fingerprint({})
    async with UnitOfWork(session_factory, SCHEMA) as uow:
        await claim(uow.session, uow.tables, scope="s", key="k", request_fingerprint=fp)
        await uow.commit()  # the bug the 409 is there for: no complete()

    with pytest.raises(ProblemError) as raised:
        async with UnitOfWork(session_factory, SCHEMA) as uow:
            await claim(uow.session, uow.tables, scope="s", key="k", request_fingerprint=fp)
    assert raised.value.status == 409
    assert CYRILLIC.search(raised.value.detail)


def test_fingerprint_ignores_key_order_and_sees_every_value() -> None:
    assert fingerprint({"a": 1, "b": [1, 2]}) == fingerprint({"b": [1, 2], "a": 1})
    assert fingerprint({"a": 1}) != fingerprint({"a": 2})
    assert fingerprint({"a": [1, 2]}) != fingerprint({"a": [2, 1]})
    assert fingerprint({"name": "ё"}) != fingerprint({"name": "е"})


async def _store(factory: async_sessionmaker[AsyncSession], key: str) -> None:
    async with UnitOfWork(factory, SCHEMA) as uow:
        await claim(uow.session, uow.tables, scope="s", key=key, request_fingerprint=fingerprint(key))
        await complete(uow.session, uow.tables, scope="s", key=key, status_code=201, body={"key": key})
        await uow.commit()


async def _age(engine: AsyncEngine, key: str, hours: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                f"UPDATE {SCHEMA}.idempotency_keys SET created_at = now() - make_interval(secs => :s) WHERE key = :key"
            ),
            {"s": hours * 3600, "key": key},
        )


async def _keys(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(select(keys_table.c.key))).scalars())


async def test_purge_expired_deletes_only_old_keys(
    session_factory: async_sessionmaker[AsyncSession], clean_db: AsyncEngine
) -> None:
    for key in ["fresh", "almost", "old", "ancient"]:
        await _store(session_factory, key)
    await _age(clean_db, "almost", 23.9)
    await _age(clean_db, "old", 24.1)
    await _age(clean_db, "ancient", 24 * 30)

    async with UnitOfWork(session_factory, SCHEMA) as uow:
        assert await purge_expired(uow.session, uow.tables) == 2
        await uow.commit()
    assert await _keys(clean_db) == {"fresh", "almost"}

    async with UnitOfWork(session_factory, SCHEMA) as uow:
        assert await purge_expired(uow.session, uow.tables, older_than=timedelta(hours=1)) == 1
        await uow.commit()
    assert await _keys(clean_db) == {"fresh"}

    async with UnitOfWork(session_factory, SCHEMA) as uow:
        assert await purge_expired(uow.session, uow.tables) == 0


async def test_a_purged_key_is_forgotten(client: httpx.AsyncClient, clean_db: AsyncEngine) -> None:
    first = await _post(client, "скамейка", "k1")
    await _age(clean_db, "k1", 25)
    factory = async_sessionmaker(clean_db)
    async with UnitOfWork(factory, SCHEMA) as uow:
        assert await purge_expired(uow.session, uow.tables) == 1
        await uow.commit()

    second = await _post(client, "скамейка", "k1")
    assert second.status_code == 201
    assert second.json()["id"] != first.json()["id"]
    assert await _widgets(clean_db) == ["скамейка", "скамейка"]
