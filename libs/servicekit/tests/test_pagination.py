"""Cursor (keyset) pagination: the cursor itself, the ``page_request`` dependency, ``make_page``, and paging
through a real table in PostgreSQL while it changes."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.http.pagination import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    make_page,
    page_request,
)
from servicekit.http.problems import PROBLEM_JSON, ProblemError, install_problem_handlers

from .conftest import SCHEMA

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- the cursor ---------------------------------------------------------------------------------------


def test_cursor_round_trip_of_plain_json_values() -> None:
    key = ["улица Ленина, 5 — «двор»", 42, 1.5, None, True, "emoji 🚧"]
    cursor = encode_cursor(key)

    assert URL_SAFE.match(cursor), "a cursor must go into a query string unescaped"
    assert decode_cursor(cursor) == key


def test_cursor_round_trip_serialises_datetimes_and_uuids_as_strings() -> None:
    moment = datetime(2025, 3, 1, 12, 30, 45, 123456, tzinfo=UTC)
    ident = uuid.UUID("0b5c1e2a-7d1f-4f6e-9a51-3c2b1d0e9f87")

    decoded = decode_cursor(encode_cursor([moment, ident]))

    assert decoded == [str(moment), str(ident)]
    # ...and they parse back to the very same values, to the microsecond.
    assert TypeAdapter(tuple[datetime, uuid.UUID]).validate_python(decoded) == (moment, ident)


def test_cursor_of_an_empty_key() -> None:
    assert decode_cursor(encode_cursor([])) == []


def _assert_bad_cursor(cursor: str) -> None:
    with pytest.raises(ProblemError) as raised:
        decode_cursor(cursor)
    problem = raised.value
    assert problem.status == 400
    assert CYRILLIC.search(problem.detail)
    assert problem.extensions["errors"][0]["field"] == "query.cursor"
    assert CYRILLIC.search(problem.extensions["errors"][0]["message"])


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("!!!!", id="not base64"),
        pytest.param("a", id="one base64 char"),
        pytest.param(_b64(b"not json"), id="not json"),
        pytest.param(_b64(b"\xff\xfe\xfd"), id="not utf-8"),
        pytest.param(_b64(b"{}"), id="an object"),
        pytest.param(_b64(b"null"), id="null"),
        pytest.param(_b64(b'"2025-01-01"'), id="a string"),
        pytest.param(_b64(b"17"), id="a number"),
        pytest.param(_b64(b"[" * 768), id="deeply nested"),
    ],
)
def test_garbage_cursor_is_a_400_problem(cursor: str) -> None:
    _assert_bad_cursor(cursor)


def test_tampered_cursor_is_a_400_problem() -> None:
    cursor = encode_cursor(["2025-03-01 12:00:00+00:00", 17])
    _assert_bad_cursor(cursor[:-3])  # cut short: the JSON is cut short too
    _assert_bad_cursor(cursor[:5] + "A" + cursor[5:])  # a character slipped in: everything after shifts


# --- page_request and make_page -----------------------------------------------------------------------


def test_page_request_caps_the_limit_and_decodes_the_cursor() -> None:
    assert page_request() == PageRequest(limit=DEFAULT_LIMIT, after=None)
    assert page_request(limit=7).limit == 7
    assert page_request(limit=MAX_LIMIT).limit == MAX_LIMIT
    assert page_request(limit=MAX_LIMIT + 1).limit == MAX_LIMIT
    assert page_request(limit=10**9).limit == MAX_LIMIT
    assert page_request(limit=5, cursor=encode_cursor(["б", 2])) == PageRequest(limit=5, after=["б", 2])


def test_page_request_refuses_a_bad_cursor() -> None:
    with pytest.raises(ProblemError) as raised:
        page_request(cursor="%%%")
    assert raised.value.status == 400


def _rows(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "name": f"row {i}"} for i in range(1, n + 1)]


def _key(row: dict[str, Any]) -> tuple[int]:
    return (row["id"],)


def test_make_page_with_more_rows_than_the_limit_points_at_the_last_item() -> None:
    page = make_page(_rows(6), PageRequest(limit=5, after=None), _key)

    assert page.items == _rows(5)
    assert page.next_cursor is not None
    assert decode_cursor(page.next_cursor) == [5]


@pytest.mark.parametrize("n", [0, 1, 4, 5])
def test_make_page_without_more_rows_has_no_next_cursor(n: int) -> None:
    page = make_page(_rows(n), PageRequest(limit=5, after=None), _key)

    assert page.items == _rows(n)
    assert page.next_cursor is None
    assert "next_cursor" not in page.model_dump(exclude_none=True)


# --- over HTTP ----------------------------------------------------------------------------------------


class Echo(BaseModel):
    limit: int
    after: list[Any] | None


@pytest.fixture
async def echo_client() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/api/v1/echo")
    async def echo(page: Annotated[PageRequest, Depends(page_request)]) -> Echo:
        return Echo(limit=page.limit, after=page.after)

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gorod.test") as client:
        yield client


async def test_http_limit_is_capped_not_refused(echo_client: httpx.AsyncClient) -> None:
    assert (await echo_client.get("/api/v1/echo")).json() == {"limit": DEFAULT_LIMIT, "after": None}
    assert (await echo_client.get("/api/v1/echo", params={"limit": 3})).json()["limit"] == 3
    response = await echo_client.get("/api/v1/echo", params={"limit": 5000})
    assert response.status_code == 200
    assert response.json()["limit"] == MAX_LIMIT


@pytest.mark.parametrize("limit", ["0", "-1", "ten"])
async def test_http_nonsense_limit_is_a_422_problem(echo_client: httpx.AsyncClient, limit: str) -> None:
    response = await echo_client.get("/api/v1/echo", params={"limit": limit})

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [e["field"] for e in response.json()["errors"]] == ["query.limit"]


async def test_http_bad_cursor_is_a_400_problem(echo_client: httpx.AsyncClient) -> None:
    for cursor in ["!!!!", _b64(b"{}"), encode_cursor(["a", 1])[:-2], _b64(b"[" * 768)]:
        response = await echo_client.get("/api/v1/echo", params={"cursor": cursor})
        assert response.status_code == 400, cursor
        assert response.headers["content-type"] == PROBLEM_JSON
        body = response.json()
        assert body["status"] == 400
        assert body["instance"] == "/api/v1/echo"
        assert CYRILLIC.search(body["detail"])
        assert body["errors"][0]["field"] == "query.cursor"


async def test_http_overlong_cursor_is_refused(echo_client: httpx.AsyncClient) -> None:
    response = await echo_client.get("/api/v1/echo", params={"cursor": encode_cursor(["я" * 1000])})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["query.cursor"]


# --- paging through a real table ----------------------------------------------------------------------

BASE = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
_after = TypeAdapter(tuple[datetime, int])


class Item(BaseModel):
    id: int
    created_at: datetime


@pytest.fixture
async def items_table(clean_db: AsyncEngine) -> AsyncEngine:
    async with clean_db.begin() as conn:
        await conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {SCHEMA}.pagination_items"
                " (id int PRIMARY KEY, created_at timestamptz NOT NULL)"
            )
        )
        await conn.execute(text(f"TRUNCATE {SCHEMA}.pagination_items"))
    return clean_db


async def _insert(engine: AsyncEngine, rows: list[tuple[int, datetime]]) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(f"INSERT INTO {SCHEMA}.pagination_items (id, created_at) VALUES (:id, :created_at)"),
            [{"id": i, "created_at": at} for i, at in rows],
        )


def _items_app(engine: AsyncEngine) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/api/v1/items")
    async def list_items(page: Annotated[PageRequest, Depends(page_request)]) -> Page[Item]:
        params: dict[str, Any] = {"limit": page.limit + 1}
        where = ""
        if page.after is not None:
            try:
                params["a"], params["b"] = _after.validate_python(page.after)
            except ValidationError:
                raise ProblemError(400, "Неверный курсор страницы: запросите список с начала.") from None
            where = "WHERE (created_at, id) > (:a, :b)"
        async with engine.connect() as conn:
            result = await conn.execute(
                text(
                    f"SELECT id, created_at FROM {SCHEMA}.pagination_items {where} ORDER BY created_at, id LIMIT :limit"
                ),
                params,
            )
            rows = [Item(id=row.id, created_at=row.created_at) for row in result]
        return make_page(rows, page, lambda item: (item.created_at, item.id))

    return app


@pytest.fixture
async def items_client(items_table: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_items_app(items_table), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gorod.test") as client:
        yield client


def _original_rows() -> list[tuple[int, datetime]]:
    """55 rows; runs of 7 share a timestamp (with microseconds), and ids do not follow time."""
    return [(1000 - i, BASE + (i // 7) * timedelta(seconds=1, microseconds=123457)) for i in range(55)]


def _order(rows: list[tuple[int, datetime]]) -> list[int]:
    return [i for i, _ in sorted(rows, key=lambda r: (r[1], r[0]))]


async def _fetch(client: httpx.AsyncClient, limit: int, cursor: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": limit}
    if cursor is not None:
        params["cursor"] = cursor
    response = await client.get("/api/v1/items", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert len(body["items"]) <= limit
    return body


@pytest.mark.parametrize("limit", [1, 7, 10, 54, 55, 100])
async def test_paging_sees_every_row_once_in_order(
    items_client: httpx.AsyncClient, items_table: AsyncEngine, limit: int
) -> None:
    rows = _original_rows()
    await _insert(items_table, rows)

    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        body = await _fetch(items_client, limit, cursor)
        pages += 1
        seen += [item["id"] for item in body["items"]]
        cursor = body.get("next_cursor")
        if cursor is None:
            break
        assert pages < 100, "paging does not end"

    assert seen == _order(rows)
    assert pages == -(-55 // limit), "the last page is known to be last: no empty page after it"


async def test_paging_through_a_list_that_changes_underneath(
    items_client: httpx.AsyncClient, items_table: AsyncEngine
) -> None:
    rows = _original_rows()
    await _insert(items_table, rows)
    last_original = rows[-1][1]

    seen: list[tuple[int, datetime]] = []
    cursor: str | None = None
    page_no = 0
    new_later: list[tuple[int, datetime]] = []
    new_earlier: list[tuple[int, datetime]] = []
    while True:
        body = await _fetch(items_client, 10, cursor)
        seen += [(item["id"], datetime.fromisoformat(item["created_at"])) for item in body["items"]]
        cursor = body.get("next_cursor")
        if cursor is None:
            break
        page_no += 1
        # Between page fetches others add rows: some sort after everything (new reports), some before the
        # cursor (backdated), one ties with the last row seen but has a smaller id (sorts before it).
        later = [(5000 + 10 * page_no + k, last_original + timedelta(minutes=page_no, seconds=k)) for k in range(2)]
        earlier = [(6000 + page_no, BASE - timedelta(days=1))]
        if page_no == 1:
            earlier.append((-1, seen[-1][1]))
        await _insert(items_table, later + earlier)
        new_later += later
        new_earlier += earlier

    ids = [i for i, _ in seen]
    assert len(ids) == len(set(ids)), "a row was seen twice"
    assert [(at, i) for i, at in seen] == sorted((at, i) for i, at in seen), "rows out of order"
    assert ids[:55] == _order(rows), "every original row, once, in order, before the new ones"
    assert ids[55:] == _order(new_later), "rows added after the end show up at the end"
    assert not set(ids) & {i for i, _ in new_earlier}, "rows added before the cursor are not reached"


async def test_a_first_page_with_no_rows(items_client: httpx.AsyncClient) -> None:
    body = await _fetch(items_client, 10, None)
    assert body == {"items": [], "next_cursor": None}


async def test_a_cursor_that_decodes_but_does_not_fit_the_sort_key_is_a_400(
    items_client: httpx.AsyncClient,
) -> None:
    response = await items_client.get("/api/v1/items", params={"cursor": encode_cursor(["вчера", "x"])})
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    assert CYRILLIC.search(response.json()["detail"])
