"""Unit tests of the plain-Python rules: the Bayesian rating, the heat-map grid, redaction."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from analytics.domain.heatmap import MAX_CELLS, cell_count, cell_size
from analytics.domain.rating import DepartmentVotes, rank
from analytics.domain.redaction import redact
from analytics.usecases.reports import period


def _votes(name: str, scores: list[int]) -> DepartmentVotes:
    return DepartmentVotes(name, name, len(scores), sum(scores), len(scores), 0, 0)


def test_few_perfect_votes_do_not_beat_many_good_ones() -> None:
    few = _votes("few", [5, 5, 5])
    many = _votes("many", [4] * 200)
    poor = _votes("poor", [2] * 50)
    result = rank([few, many, poor], min_votes=10)
    prior = (15 + 800 + 100) / 253
    by_name = {r.name: r for r in result}
    assert by_name["many"].score == pytest.approx((10 * prior + 800) / 210, abs=0.001)
    assert by_name["few"].score == pytest.approx((10 * prior + 15) / 13, abs=0.001)
    assert [r.name for r in result] == ["many", "poor", "few"]  # "few" is below min_votes: listed, not ranked
    assert [r.rank for r in result] == [1, 2, None]
    assert by_name["few"].mean == 5.0


def test_no_votes_at_all() -> None:
    assert rank([], min_votes=10) == []
    [lonely] = rank([_votes("x", [])], min_votes=1)
    assert lonely.rank is None
    assert lonely.votes == 0


def test_grid_cells_shrink_with_zoom() -> None:
    assert cell_size(10) == pytest.approx(360 / 1024 / 8)
    assert cell_size(11) == pytest.approx(cell_size(10) / 2)
    assert cell_count((38.70, 55.04, 38.86, 55.13), 13) < MAX_CELLS
    assert cell_count((-180, -90, 180, 90), 18) > MAX_CELLS


def test_redaction_drops_personal_data_and_keeps_what_reports_need() -> None:
    data = {
        "problem_id": "p",
        "point": {"lon": 1, "lat": 2},
        "applicant": {"full_name": "Иван Петров", "email": "ivan@example.org"},
        "author_id": "u",
        "description": "Звоните мне",
        "category_code": "roads.pothole",
    }
    assert redact(data) == {"problem_id": "p", "point": {"lon": 1, "lat": 2}, "category_code": "roads.pothole"}


def test_the_default_period_includes_the_new_local_day_east_of_greenwich() -> None:
    # 22:30 UTC on 22 November is already 23 November in Moscow (and in Kamchatka).
    late_evening_utc = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
    default = period(None, None, now=late_evening_utc)
    assert default.until > date(2026, 11, 23), "Moscow's 23 November is inside the period"
    assert period(None, None, now=datetime(2026, 11, 22, 10, 0, tzinfo=UTC)).until == date(2026, 11, 23)
    assert period(date(2026, 1, 1), date(2026, 2, 1), now=late_evening_utc).until == date(2026, 2, 1)
