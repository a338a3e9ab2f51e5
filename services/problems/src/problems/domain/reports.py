"""Rules for a report: where it may lie, and the category's Open311-style extra fields. Plain Python, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DATATYPES = ("string", "number", "datetime", "text", "singlevaluelist", "multivaluelist")
MAX_DESCRIPTION = 4000
MAX_PHOTOS = 5

# Russia's extent (WGS84), generous by a few km; Chukotka crosses the antimeridian.
_LAT_MIN, _LAT_MAX = 41.1, 82.1
_LON_WEST, _LON_EAST_WRAP = 19.6, -168.9


def in_russia_extent(lon: float, lat: float) -> bool:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return False
    if not _LAT_MIN <= lat <= _LAT_MAX:
        return False
    return lon >= _LON_WEST or lon <= _LON_EAST_WRAP


class FieldErrors(Exception):
    """Per-field problems, each ``{"field": "body.extra.depth", "message": "<Russian>"}``."""

    def __init__(self) -> None:
        super().__init__("invalid fields")
        self.errors: list[dict[str, str]] = []

    def add(self, field_name: str, message: str) -> None:
        self.errors.append({"field": field_name, "message": message})

    def __bool__(self) -> bool:
        return bool(self.errors)


def check_attribute_definitions(attributes: list[dict[str, Any]], errors: FieldErrors, prefix: str) -> None:
    """An operator's category attributes: codes unique, list types carry values, keys unique."""
    seen: set[str] = set()
    for index, attribute in enumerate(attributes):
        where = f"{prefix}.{index}"
        code = attribute.get("code")
        if code in seen:
            errors.add(f"{where}.code", "Код поля повторяется.")
        seen.add(str(code))
        values = attribute.get("values") or []
        if attribute.get("datatype") in ("singlevaluelist", "multivaluelist"):
            if not values:
                errors.add(f"{where}.values", "Для списка нужны варианты значений.")
            keys = [value.get("key") for value in values]
            if len(keys) != len(set(keys)):
                errors.add(f"{where}.values", "Ключи вариантов повторяются.")
        elif values:
            errors.add(f"{where}.values", "Варианты значений бывают только у списков.")


def clean_extra(attributes: list[dict[str, Any]], extra: dict[str, Any], errors: FieldErrors) -> dict[str, Any]:
    """Check a report's ``extra`` against the category's attributes (by datatype); return the clean values."""
    clean: dict[str, Any] = {}
    known = {str(attribute["code"]): attribute for attribute in attributes}
    for code in extra:
        if code not in known:
            errors.add(f"body.extra.{code}", "В этой категории нет такого поля.")
    for code, attribute in known.items():
        where = f"body.extra.{code}"
        value = extra.get(code)
        if value is None or value == "" or value == []:
            if attribute.get("required"):
                errors.add(where, f"Заполните поле «{attribute.get('description') or code}».")
            continue
        checked = _check_value(attribute, value)
        if isinstance(checked, _Bad):
            errors.add(where, checked.message)
        else:
            clean[code] = checked
    return clean


@dataclass(frozen=True)
class _Bad:
    message: str


def _check_value(attribute: dict[str, Any], value: Any) -> Any:
    datatype = attribute.get("datatype")
    keys = [str(item.get("key")) for item in attribute.get("values") or []]
    if datatype in ("string", "text"):
        if not isinstance(value, str):
            return _Bad("Ожидается строка.")
        limit = 200 if datatype == "string" else 2000
        if len(value) > limit:
            return _Bad(f"Не длиннее {limit} символов.")
        return value.strip()
    if datatype == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return _Bad("Ожидается число.")
        return value
    if datatype == "datetime":
        if not isinstance(value, str):
            return _Bad("Ожидаются дата и время в формате ISO 8601.")
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return _Bad("Ожидаются дата и время в формате ISO 8601.")
        return value
    if datatype == "singlevaluelist":
        if not isinstance(value, str) or value not in keys:
            return _Bad("Выберите одно из предложенных значений.")
        return value
    if datatype == "multivaluelist":
        if not isinstance(value, list) or not all(isinstance(item, str) and item in keys for item in value):
            return _Bad("Выберите значения из предложенных.")
        return list(dict.fromkeys(value))
    return _Bad("Неизвестный тип поля.")
