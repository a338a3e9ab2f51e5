"""Tables as CSV (UTF-8 with a BOM, so that Excel reads Cyrillic) and XLSX (openpyxl), and the PNG trend chart."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from fastapi.responses import Response, StreamingResponse

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.isoformat()
    return value


def _disposition(filename: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def _csv_line(values: Iterable[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(["" if v is None else _cell(v) for v in values])
    return buffer.getvalue()


def csv_response(filename: str, columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Response:
    body = "\ufeff" + _csv_line(columns) + "".join(_csv_line(row.get(c) for c in columns) for row in rows)
    return Response(body.encode(), media_type=CSV_TYPE, headers=_disposition(filename))


def csv_stream(filename: str, columns: Sequence[str], rows: AsyncIterable[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[bytes]:
        yield ("\ufeff" + _csv_line(columns)).encode()
        async for row in rows:
            yield _csv_line(row.get(c) for c in columns).encode()

    return StreamingResponse(lines(), media_type=CSV_TYPE, headers=_disposition(filename))


Sheet = tuple[str, Sequence[str], Sequence[dict[str, Any]]]


def _xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, columns, rows in sheets:
        sheet = book.create_sheet(title[:31])
        sheet.append(list(columns))
        for row in rows:
            values = []
            for column in columns:
                value = row.get(column)
                if isinstance(value, UUID):
                    value = str(value)
                elif isinstance(value, datetime):
                    value = value.replace(tzinfo=None)  # Excel has no time zones: UTC, as the header says
                elif not isinstance(value, (int, float, str, date, type(None))):
                    value = str(value)
                values.append(value)
            sheet.append(values)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def xlsx_response(filename: str, sheets: Sequence[Sheet]) -> Response:
    body = await asyncio.to_thread(_xlsx_bytes, sheets)
    return Response(body, media_type=XLSX_TYPE, headers=_disposition(filename))


def _trend_png(title: str, weeks: Sequence[dict[str, Any]]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 4), dpi=100)
    axes = figure.subplots()
    labels = [w["week"] for w in weeks]
    axes.plot(labels, [w["new"] for w in weeks], marker="o", label="Новые")
    axes.plot(labels, [w["solved"] for w in weeks], marker="o", label="Решённые")
    axes.set_title(title)
    axes.set_ylabel("Проблем за неделю")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.autofmt_xdate()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


async def trend_png(title: str, weeks: Sequence[dict[str, Any]]) -> Response:
    body = await asyncio.to_thread(_trend_png, title, weeks)
    return Response(body, media_type="image/png")
