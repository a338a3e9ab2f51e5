"""Cursor (keyset) pagination with a capped ``limit``.

A cursor is an opaque, URL-safe token holding the sort key of the last item returned; a client passes it
back unchanged as ``cursor`` to get the next page. Offsets are not offered: they skip or repeat rows when
the list changes underneath, and get slow deep in a long list.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from servicekit.http.problems import ProblemError

T = TypeVar("T")

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    """Pass as ``cursor`` to get the next page; absent on the last page."""


class PageRequest(BaseModel):
    limit: int
    after: list[Any] | None
    """The sort key of the last item of the previous page, or None for the first page."""


def encode_cursor(sort_key: list[Any]) -> str:
    raw = json.dumps(sort_key, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as error:
        raise _bad_cursor() from error
    if not isinstance(value, list):
        raise _bad_cursor()
    return value


def _bad_cursor() -> ProblemError:
    return ProblemError(
        400,
        "Неверный курсор страницы: запросите список с начала.",
        title="Invalid cursor",
        errors=[{"field": "query.cursor", "message": "Неверный курсор страницы."}],
    )


def page_request(
    limit: Annotated[int, Query(ge=1, description=f"Items per page, at most {MAX_LIMIT}.")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=1024, description="`next_cursor` of the last page.")] = None,
) -> PageRequest:
    """A FastAPI dependency. ``limit`` above the cap is lowered to the cap, not refused."""
    return PageRequest(limit=min(limit, MAX_LIMIT), after=decode_cursor(cursor) if cursor else None)


def make_page(rows: list[T], request: PageRequest, sort_key: Any) -> Page[T]:
    """Build a page from up to ``limit + 1`` rows fetched after the cursor; the extra row means "more"."""
    items = rows[: request.limit]
    more = len(rows) > request.limit
    return Page[T](items=items, next_cursor=encode_cursor(list(sort_key(items[-1]))) if more else None)
