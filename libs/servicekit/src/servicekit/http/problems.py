"""RFC 9457 problem details (``application/problem+json``) for every error a service returns.

``detail`` is written for a person, in Russian; ``title`` stays a short English summary for developers.
Validation errors name every bad field (``errors``), each with a Russian message.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from asgi_correlation_id import correlation_id
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.logs import REQUEST_ID_HEADER

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

_STATUS_DETAIL_RU = {
    400: "Запрос составлен неверно.",
    401: "Нужно войти в систему.",
    403: "У вас нет прав на это действие.",
    404: "Ничего не найдено по этому адресу.",
    405: "Этот метод здесь не поддерживается.",
    409: "Запрос противоречит текущему состоянию данных.",
    413: "Слишком большой запрос.",
    415: "Этот формат данных не поддерживается.",
    422: "Некоторые поля заполнены неверно.",
    429: "Слишком много запросов. Попробуйте чуть позже.",
    500: "Внутренняя ошибка сервиса. Мы уже разбираемся.",
    503: "Сервис временно недоступен. Попробуйте позже.",
}

_VALIDATION_RU = {
    "missing": "Обязательное поле не заполнено.",
    "string_too_short": "Слишком короткое значение.",
    "string_too_long": "Слишком длинное значение.",
    "string_type": "Ожидается строка.",
    "int_parsing": "Ожидается целое число.",
    "int_type": "Ожидается целое число.",
    "float_parsing": "Ожидается число.",
    "float_type": "Ожидается число.",
    "bool_parsing": "Ожидается «да» или «нет» (true/false).",
    "greater_than": "Значение слишком мало.",
    "greater_than_equal": "Значение слишком мало.",
    "less_than": "Значение слишком велико.",
    "less_than_equal": "Значение слишком велико.",
    "uuid_parsing": "Ожидается идентификатор в формате UUID.",
    "datetime_parsing": "Ожидаются дата и время в формате ISO 8601.",
    "datetime_from_date_parsing": "Ожидаются дата и время в формате ISO 8601.",
    "date_parsing": "Ожидается дата в формате ГГГГ-ММ-ДД.",
    "enum": "Недопустимое значение.",
    "literal_error": "Недопустимое значение.",
    "extra_forbidden": "Такого поля нет.",
    "json_invalid": "Тело запроса — не корректный JSON.",
    "model_attributes_type": "Ожидается объект.",
    "dict_type": "Ожидается объект.",
    "list_type": "Ожидается список.",
    "too_long": "Слишком много элементов.",
    "too_short": "Слишком мало элементов.",
    "value_error": "Недопустимое значение.",
    "url_parsing": "Ожидается адрес (URL).",
    "string_pattern_mismatch": "Значение не соответствует формату.",
}


class ProblemError(Exception):
    """Raise from anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        type_: str = "about:blank",
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title
        self.type = type_
        self.headers = headers or {}
        self.extensions = extensions


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _default_title(status),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extensions)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _default_title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_errors(errors: Any) -> list[dict[str, str]]:
    """Pydantic errors as ``[{"field": "body.title", "message": "<Russian>"}]``."""
    result = []
    for error in errors:
        loc = tuple(error.get("loc", ()))
        if error.get("type") == "json_invalid":
            loc = loc[:1]  # ("body", <char offset>): the offset is not a field
        location = ".".join(str(part) for part in loc)
        message = _VALIDATION_RU.get(error.get("type", ""), "Недопустимое значение.")
        result.append({"field": location, "message": message})
    return result


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            exc.status,
            exc.detail,
            title=exc.title,
            type_=exc.type,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extensions,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and _is_russian(exc.detail) else None
        return problem_response(
            exc.status_code,
            detail or _STATUS_DETAIL_RU.get(exc.status_code, "Запрос не выполнен."),
            instance=request.url.path,
            headers=dict(exc.headers or {}),
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_errors(exc.errors())
        fields = ", ".join(e["field"] for e in errors)
        return problem_response(
            422,
            f"Проверьте поля: {fields}." if fields else _STATUS_DETAIL_RU[422],
            title="Validation failed",
            instance=request.url.path,
            errors=errors,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        # Starlette sends this answer from outside every middleware, the request id's too: add the id here,
        # so that a person can quote it and a developer find the log line by it.
        request_id = correlation_id.get()
        headers = {REQUEST_ID_HEADER: request_id} if request_id else None
        return problem_response(500, _STATUS_DETAIL_RU[500], instance=request.url.path, headers=headers)

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(Exception, on_unexpected)


def _is_russian(text: str) -> bool:
    return any("а" <= ch.lower() <= "я" or ch in "ёЁ" for ch in text)
