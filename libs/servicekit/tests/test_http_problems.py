"""RFC 9457 problem documents for every kind of error a service answers with."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from servicekit.http.problems import PROBLEM_JSON, ProblemError, install_problem_handlers

CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
SECRET = "password=hunter2 at db-7.internal"


class WidgetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=3, max_length=10)
    count: int


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/api/v1/widgets/{widget_id}/lock")
    async def lock(widget_id: int) -> None:
        raise ProblemError(
            409,
            "Виджет уже заблокирован другим пользователем.",
            title="Widget locked",
            type_="https://gorod.example/problems/widget-locked",
            headers={"Retry-After": "30"},
            locked_by=widget_id + 1,
        )

    @app.get("/api/v1/widgets/{widget_id}")
    async def get_widget(widget_id: int) -> None:
        raise HTTPException(404)

    @app.get("/api/v1/gadgets/{gadget_id}")
    async def get_gadget(gadget_id: int) -> None:
        raise HTTPException(404, detail="Гаджет не найден.")

    @app.post("/api/v1/widgets", status_code=201)
    async def create_widget(widget: WidgetIn) -> WidgetIn:
        return widget

    @app.get("/api/v1/boom")
    async def boom() -> None:
        raise RuntimeError(SECRET)

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gorod.test") as c:
        yield c


def assert_problem(response: httpx.Response, status: int, instance: str) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["type"], str)
    assert body["type"]
    assert body["instance"] == instance
    assert CYRILLIC.search(body["detail"]), f"detail is not Russian: {body['detail']!r}"
    return body


async def test_problem_error_keeps_its_detail_title_type_headers_and_extensions(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/widgets/7/lock")

    body = assert_problem(response, 409, "/api/v1/widgets/7/lock")
    assert body["detail"] == "Виджет уже заблокирован другим пользователем."
    assert body["title"] == "Widget locked"
    assert body["type"] == "https://gorod.example/problems/widget-locked"
    assert body["locked_by"] == 8
    assert response.headers["retry-after"] == "30"


async def test_http_exception_without_a_russian_detail_gets_one(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/widgets/7")

    body = assert_problem(response, 404, "/api/v1/widgets/7")
    assert body["title"] == "Not Found"
    assert body["type"] == "about:blank"
    assert "Not Found" not in body["detail"]


async def test_http_exception_with_a_russian_detail_keeps_it(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/api/v1/gadgets/3"), 404, "/api/v1/gadgets/3")
    assert body["detail"] == "Гаджет не найден."


async def test_unknown_route_and_wrong_method_are_problems_too(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nowhere"), 404, "/api/v1/nowhere")

    response = await client.delete("/api/v1/widgets")
    assert_problem(response, 405, "/api/v1/widgets")
    assert response.headers["allow"] == "POST"


async def test_valid_body_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/widgets", json={"title": "лавка", "count": 2})
    assert response.status_code == 201
    assert response.json() == {"title": "лавка", "count": 2}


def _errors_by_field(body: dict[str, Any]) -> dict[str, str]:
    errors = body["errors"]
    assert isinstance(errors, list)
    assert errors
    for error in errors:
        assert CYRILLIC.search(error["message"]), f"message is not Russian: {error!r}"
    return {error["field"]: error["message"] for error in errors}


async def test_validation_names_every_bad_field_with_a_russian_message(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/widgets", json={"title": "ab", "count": "many", "colour": "red"})

    body = assert_problem(response, 422, "/api/v1/widgets")
    fields = _errors_by_field(body)
    assert set(fields) == {"body.title", "body.count", "body.colour"}
    assert fields["body.title"] == "Слишком короткое значение."
    assert fields["body.count"] == "Ожидается целое число."
    assert fields["body.colour"] == "Такого поля нет."
    for field in fields:
        assert field in body["detail"]


async def test_validation_of_a_too_long_a_missing_and_a_mistyped_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/widgets", json={"title": "x" * 11})
    fields = _errors_by_field(assert_problem(response, 422, "/api/v1/widgets"))
    assert fields == {
        "body.title": "Слишком длинное значение.",
        "body.count": "Обязательное поле не заполнено.",
    }

    response = await client.post("/api/v1/widgets", json={"title": 12345, "count": 1})
    fields = _errors_by_field(assert_problem(response, 422, "/api/v1/widgets"))
    assert fields == {"body.title": "Ожидается строка."}


async def test_malformed_json_is_a_422_about_the_body(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/widgets", content=b'{"title": "abc", "count": ', headers={"content-type": "application/json"}
    )

    body = assert_problem(response, 422, "/api/v1/widgets")
    assert _errors_by_field(body) == {"body": "Тело запроса — не корректный JSON."}


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"json": [1, 2]}, id="a list"),
        pytest.param({"json": "title"}, id="a string"),
        pytest.param({}, id="no body"),
    ],
)
async def test_a_body_that_is_not_an_object_is_a_422_about_the_body(
    client: httpx.AsyncClient, kwargs: dict[str, Any]
) -> None:
    body = assert_problem(await client.post("/api/v1/widgets", **kwargs), 422, "/api/v1/widgets")
    assert list(_errors_by_field(body)) == ["body"]


async def test_validation_of_path_parameters(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/widgets/seven")
    body = assert_problem(response, 422, "/api/v1/widgets/seven")
    assert _errors_by_field(body) == {"path.widget_id": "Ожидается целое число."}


async def test_unexpected_error_is_a_500_that_leaks_nothing(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/api/v1/boom")

    body = assert_problem(response, 500, "/api/v1/boom")
    assert body["title"] == "Internal Server Error"
    assert SECRET not in response.text
    assert "RuntimeError" not in response.text
    assert "hunter2" not in response.text
    # ...but the developers get it in the log.
    assert any(record.exc_info and SECRET in str(record.exc_info[1]) for record in caplog.records)
