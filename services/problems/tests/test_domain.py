"""The plain rules: Russia's extent, Open311 extra fields by datatype, routing steps and their order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from problems.domain.reports import FieldErrors, check_attribute_definitions, clean_extra, in_russia_extent
from problems.domain.statuses import routing_may_move, routing_step, status_after_dispute, status_after_window


@pytest.mark.parametrize(
    ("lon", "lat", "inside"),
    [
        (37.62, 55.75, True),  # Москва
        (20.51, 54.71, True),  # Калининград
        (158.65, 53.02, True),  # Петропавловск-Камчатский
        (-172.5, 64.4, True),  # Чукотка, east of the antimeridian
        (2.35, 48.85, False),  # Париж
        (37.6, 40.0, False),  # south of the extent
        (float("nan"), 55.0, False),
    ],
)
def test_russia_extent(lon: float, lat: float, inside: bool) -> None:
    assert in_russia_extent(lon, lat) is inside


ATTRIBUTES = [
    {"code": "depth", "datatype": "number", "required": True, "description": "Глубина"},
    {"code": "when", "datatype": "datetime", "required": False, "description": "Когда"},
    {"code": "note", "datatype": "string", "required": False, "description": "Заметка"},
    {
        "code": "kind",
        "datatype": "singlevaluelist",
        "required": False,
        "description": "Вид",
        "values": [{"key": "a", "name": "А"}, {"key": "b", "name": "Б"}],
    },
    {
        "code": "kinds",
        "datatype": "multivaluelist",
        "required": False,
        "description": "Виды",
        "values": [{"key": "a", "name": "А"}, {"key": "b", "name": "Б"}],
    },
]


def test_clean_extra_accepts_good_values() -> None:
    errors = FieldErrors()
    clean = clean_extra(
        ATTRIBUTES,
        {
            "depth": 12.5,
            "when": "2026-11-20T10:00:00+03:00",
            "note": "  у люка ",
            "kind": "a",
            "kinds": ["b", "a", "b"],
        },
        errors,
    )
    assert not errors
    assert clean == {
        "depth": 12.5,
        "when": "2026-11-20T10:00:00+03:00",
        "note": "у люка",
        "kind": "a",
        "kinds": ["b", "a"],
    }


def test_clean_extra_names_each_bad_field() -> None:
    errors = FieldErrors()
    clean_extra(ATTRIBUTES, {"depth": True, "when": "вчера", "note": 5, "kind": "c", "kinds": "a", "x": 1}, errors)
    fields = {e["field"] for e in errors.errors}
    assert fields == {f"body.extra.{c}" for c in ("depth", "when", "note", "kind", "kinds", "x")}
    missing = FieldErrors()
    clean_extra(ATTRIBUTES, {}, missing)
    assert missing.errors == [{"field": "body.extra.depth", "message": "Заполните поле «Глубина»."}]


def test_attribute_definitions() -> None:
    errors = FieldErrors()
    check_attribute_definitions(
        [
            {"code": "a", "datatype": "singlevaluelist", "values": []},
            {"code": "a", "datatype": "number", "values": [{"key": "x"}]},
        ],
        errors,
        "body.attributes",
    )
    assert {e["field"] for e in errors.errors} == {
        "body.attributes.0.values",
        "body.attributes.1.code",
        "body.attributes.1.values",
    }


def test_routing_steps() -> None:
    assert routing_step("sent", {"authority_name": "Управление ЖКХ"}).status == "sent"  # type: ignore[union-attr]
    assert routing_step("assigned", {}).status == "in_work"  # type: ignore[union-attr]
    extended = routing_step("extended", {"extended_by_days": 30, "reason": "экспертиза"})
    assert extended is not None
    assert extended.status is None
    assert "30" in extended.text
    assert routing_step("delivery_failed", {}) is None
    now = datetime.now(UTC)
    assert routing_may_move("sent", "registered", last_applied=now, occurred_at=now + timedelta(seconds=1))
    assert not routing_may_move("in_work", "registered", last_applied=now, occurred_at=now - timedelta(seconds=1))
    assert not routing_may_move("solved", "sent", last_applied=None, occurred_at=now)
    assert not routing_may_move("moderation", "sent", last_applied=None, occurred_at=now)
    assert status_after_dispute(True) == "sent"
    assert status_after_dispute(False) == "published"
    assert status_after_window("solved") == "solved"
    assert status_after_window("refused") == "not_solved"
