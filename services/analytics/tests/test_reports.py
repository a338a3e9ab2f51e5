"""The reports through HTTP, checked against figures computed independently from the same events."""

from __future__ import annotations

import csv
import io
import json
import statistics
import uuid
from collections import Counter
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.domain import histogram, synthetic
from analytics.domain.synthetic import SyntheticEvent, town_stream
from servicekit.testing.plugin import TestStack

from .conftest import authority_days_from_scratch, dump, feeder, project_all, truncate_all

pytestmark = pytest.mark.integration

TOWN = synthetic.territory_id(synthetic.TOWN_OKTMO)
REGION = synthetic.territory_id(synthetic.REGION_OKTMO)
ADMIN = synthetic.authority_id("kolomna-administration")
NOT_COUNTED = {"moderation", "rejected", "merged", "withdrawn"}


@pytest.fixture(scope="module")
def stream() -> list[SyntheticEvent]:
    # up to now, so that "overdue now" is meaningful; the last 120 days
    return list(town_stream(2024, datetime.now().astimezone(), 240, days=120))


@pytest.fixture(scope="module")
async def loaded(engine: AsyncEngine, app: FastAPI, stream: list[SyntheticEvent]) -> list[SyntheticEvent]:
    """Loaded once for the module: these tests only read."""
    await truncate_all(engine)
    await feeder(app)(stream, per_transaction=200)
    await project_all(engine)
    return stream


def _final_problems(stream: list[SyntheticEvent]) -> dict[str, dict[str, Any]]:
    problems: dict[str, dict[str, Any]] = {}
    for e in stream:
        if e.routing_key == "problems.problem.reported.v1":
            problems[e.data["problem_id"]] = {
                "status": "moderation",
                "point": e.data["point"],
                "code": e.data["category_code"],
            }
        elif e.routing_key == "problems.problem.status_changed.v1":
            problems[e.data["problem_id"]]["status"] = e.data["to_status"]
    return problems


def _local_day(stamp: str) -> date:
    return datetime.fromisoformat(stamp).astimezone(ZoneInfo("Europe/Moscow")).date()


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _district(point: dict[str, float]) -> str:
    lon, lat = point["lon"], point["lat"]
    quadrant = ("s" if lat < synthetic.DISTRICT_SPLIT[1] else "n") + ("w" if lon < synthetic.DISTRICT_SPLIT[0] else "e")
    return next(o for o, _n, q in synthetic.DISTRICTS if q == quadrant)


async def test_dashboard_matches_the_events(client: httpx.AsyncClient, loaded: list[SyntheticEvent]) -> None:
    problems = _final_problems(loaded)
    counted = {k: p for k, p in problems.items() if p["status"] not in NOT_COUNTED}
    response = await client.get(f"/api/v1/analytics/territories/{TOWN}/dashboard")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["reported"] == len(counted)
    statuses = Counter(p["status"] for p in counted.values())
    assert {s["status"]: s["count"] for s in body["by_status"]} == dict(statuses)
    assert body["solved"] == statuses["solved"]
    assert body["share_solved"] == round(statuses["solved"] / len(counted), 4)
    assert {c["code"]: c["count"] for c in body["by_category"]} == dict(Counter(p["code"] for p in counted.values()))
    assert sum(w["new"] for w in body["weekly"]) == len(counted)
    by_district = Counter(_district(p["point"]) for p in counted.values())
    assert {c["oktmo"]: c["reported"] for c in body["children"]} == {
        o: by_district[o] for o, _n, _q in synthetic.DISTRICTS
    }
    # per week (Monday, local time), new and solved, as the rollup must give them
    reported_at = {
        e.data["problem_id"]: _local_day(e.data["reported_at"])
        for e in loaded
        if e.routing_key == "problems.problem.reported.v1"
    }
    solved_at: dict[str, date | None] = {}
    for e in loaded:
        if e.routing_key == "problems.problem.status_changed.v1":
            solved = e.data["to_status"] == "solved"
            solved_at[e.data["problem_id"]] = _local_day(e.data["changed_at"]) if solved else None
    new_weeks = Counter(_monday(reported_at[k]) for k in counted)
    solved_weeks = Counter(_monday(d) for d in solved_at.values() if d is not None)
    assert {w["week"]: w["new"] for w in body["weekly"] if w["new"]} == {str(k): v for k, v in new_weeks.items()}
    assert {w["week"]: w["solved"] for w in body["weekly"] if w["solved"]} == {
        str(k): v for k, v in solved_weeks.items()
    }
    # times to answer: median over the appeals sent in the period that were answered
    sent = {e.data["appeal_id"]: e.time for e in loaded if e.routing_key == "routing.appeal.sent.v1"}
    answered = [
        (e.time - sent[e.data["appeal_id"]]).total_seconds() / 86400
        for e in loaded
        if e.routing_key == "routing.appeal.answered.v1"
    ]
    assert body["response_times"]["appeals"] == len(sent)
    # read from the histograms of the rollup: within their precision (and the rounding to 0.1) of the exact figure
    exact = statistics.median(answered)
    assert abs(body["response_times"]["answer_median_days"] - exact) <= 0.05 + exact * histogram.RELATIVE_PRECISION
    exact = statistics.quantiles(answered, n=10, method="inclusive")[-1]
    assert abs(body["response_times"]["answer_p90_days"] - exact) <= 0.05 + exact * histogram.RELATIVE_PRECISION
    registered: dict[str, float | None] = {}
    for e in loaded:
        if e.routing_key == "routing.appeal.registered.v1":
            at = datetime.fromisoformat(e.data["registered_at"])
            registered[e.data["appeal_id"]] = (at - sent[e.data["appeal_id"]]).total_seconds() / 3600
        elif e.routing_key == "routing.appeal.forwarded.v1":
            registered[e.data["appeal_id"]] = None
    hours = [h for h in registered.values() if h is not None]
    exact = statistics.median(hours)
    assert (
        abs(body["response_times"]["registration_median_hours"] - exact) <= 0.05 + exact * histogram.RELATIVE_PRECISION
    )
    # each district: its own appeals, from its own rows of the rollup
    per_district = Counter(e.data["territory_oktmo"] for e in loaded if e.routing_key == "routing.appeal.sent.v1")
    assert {c["oktmo"]: c["appeals"] for c in body["children"]} == {
        o: per_district[o] for o, _n, _q in synthetic.DISTRICTS
    }
    # the region holds the town: the same figures
    region = (await client.get(f"/api/v1/analytics/territories/{REGION}/dashboard")).json()
    assert region["reported"] == body["reported"]
    assert [c["oktmo"] for c in region["children"]] == [synthetic.TOWN_OKTMO]


async def test_dashboard_exports_and_chart(client: httpx.AsyncClient, loaded: list[SyntheticEvent]) -> None:
    url = f"/api/v1/analytics/territories/{TOWN}/dashboard"
    body = (await client.get(url)).json()
    as_csv = await client.get(url, params={"format": "csv", "table": "categories"})
    assert as_csv.status_code == 200
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert {r["code"]: int(r["count"]) for r in rows} == {c["code"]: c["count"] for c in body["by_category"]}
    as_xlsx = await client.get(url, params={"format": "xlsx"})
    book = load_workbook(io.BytesIO(as_xlsx.content))
    assert book.sheetnames == ["weekly", "categories", "statuses", "children"]
    weekly = list(book["weekly"].iter_rows(values_only=True))
    assert weekly[0] == ("week", "new", "solved")
    assert sum(r[1] for r in weekly[1:]) == body["reported"]
    png = await client.get(f"/api/v1/analytics/territories/{TOWN}/trend.png")
    assert png.status_code == 200
    assert png.content.startswith(b"\x89PNG")
    assert len(png.content) > 5000


def _overdue_now(stream: list[SyntheticEvent], now: datetime) -> dict[str, float]:
    due: dict[str, datetime] = {}
    answered: set[str] = set()
    for e in stream:
        if e.routing_key in ("routing.appeal.registered.v1", "routing.appeal.extended.v1"):
            due[e.data["appeal_id"]] = datetime.fromisoformat(e.data["answer_due_at"])
        elif e.routing_key == "routing.appeal.answered.v1":
            answered.add(e.data["appeal_id"])
    return {a: (now - d).total_seconds() / 86400 for a, d in due.items() if a not in answered and d < now}


async def test_overdue_report_and_its_appeals(
    client: httpx.AsyncClient, gorod_stack: TestStack, loaded: list[SyntheticEvent]
) -> None:
    expected = _overdue_now(loaded, datetime.now().astimezone())
    summary = await client.get(f"/api/v1/analytics/territories/{TOWN}/overdue")
    assert summary.status_code == 200
    items = summary.json()["items"]
    assert sum(i["overdue"] for i in items) == len(expected) > 0
    assert all(i["authority_id"] == str(ADMIN) for i in items)
    names = {i["department_name"] for i in items}
    assert names <= {"МКУ «Благоустройство Коломны»", "Управление ЖКХ", "Управление дорожного хозяйства и транспорта"}
    by_count = [i["overdue"] for i in items]
    assert by_count == sorted(by_count, reverse=True)
    # the appeals one by one: operators only
    url = f"/api/v1/analytics/territories/{TOWN}/overdue/appeals"
    assert (await client.get(url)).status_code == 401
    citizen = gorod_stack.tokens.bearer("analytics", subject=str(uuid.uuid4()), roles=["citizen"])
    assert (await client.get(url, headers=citizen)).status_code == 403
    official = gorod_stack.tokens.bearer("analytics", subject=str(uuid.uuid4()), roles=["official"])
    assert (await client.get(url, headers=official)).status_code == 403
    operator = gorod_stack.tokens.bearer("analytics", subject=str(uuid.uuid4()), roles=["operator"])
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3, "sort": "days", "order": "desc"}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(url, params=params, headers=operator)
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len({a["id"] for a in seen}) == len(expected)
    assert {a["id"] for a in seen} == set(expected)
    days = [a["days_overdue"] for a in seen]
    assert days == sorted(days, reverse=True)
    for appeal in seen:
        assert appeal["days_overdue"] == pytest.approx(expected[appeal["id"]], abs=0.2)
    exported = await client.get(url, params={"format": "csv"}, headers=operator)
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert {r["id"] for r in rows} == set(expected)
    # an official whose token names their authority sees that authority's appeals
    own = gorod_stack.tokens.bearer("analytics", roles=["official"], authority_id=str(ADMIN))
    mine = await client.get(url, params={"limit": 100}, headers=own)
    assert mine.status_code == 200
    assert {a["id"] for a in mine.json()["items"]} == set(expected)
    other = gorod_stack.tokens.bearer("analytics", roles=["official"], authority_id=str(uuid.uuid4()))
    assert (await client.get(url, params={"authority_id": str(ADMIN)}, headers=other)).status_code == 403
    assert (await client.get(url, headers=other)).json()["items"] == []  # only their own authority's


async def test_rating_is_a_bayesian_average_ranked_within_the_territory(
    client: httpx.AsyncClient, loaded: list[SyntheticEvent]
) -> None:
    response = await client.get(f"/api/v1/analytics/territories/{TOWN}/rating", params={"min_votes": 5})
    assert response.status_code == 200
    items = response.json()["items"]
    department_of = {
        e.data["appeal_id"]: e.data["department_id"] for e in loaded if e.routing_key == "routing.appeal.sent.v1"
    }
    votes: dict[str, list[int]] = {}
    for e in loaded:
        score = {
            "problems.problem.rated.v1": e.data.get("rating"),
            "problems.problem.confirmed.v1": 5,
            "problems.problem.reopened.v1": 1,
        }.get(e.routing_key)
        if score is not None:
            votes.setdefault(department_of[e.data["appeal_id"]], []).append(score)
    everything = [v for vs in votes.values() for v in vs]
    prior = sum(everything) / len(everything)
    expected = {d: (5 * prior + sum(vs)) / (5 + len(vs)) for d, vs in votes.items()}
    assert {i["department_id"]: i["votes"] for i in items} == {d: len(vs) for d, vs in votes.items()}
    for item in items:
        assert item["score"] == pytest.approx(expected[item["department_id"]], abs=0.001)
    ranked = [i for i in items if i["rank"] is not None]
    assert [i["rank"] for i in ranked] == list(range(1, len(ranked) + 1))
    assert [i["score"] for i in ranked] == sorted((i["score"] for i in ranked), reverse=True)
    docs = (await client.get("/openapi.json")).json()
    assert (
        "байесовское среднее"
        in docs["paths"]["/api/v1/analytics/territories/{territory_id}/rating"]["get"]["description"]
    )


async def test_authority_card(client: httpx.AsyncClient, loaded: list[SyntheticEvent]) -> None:
    response = await client.get(f"/api/v1/analytics/authorities/{ADMIN}/card")
    assert response.status_code == 200
    card = response.json()
    answers = [e for e in loaded if e.routing_key == "routing.appeal.answered.v1"]
    assert card["appeals"] == sum(1 for e in loaded if e.routing_key == "routing.appeal.sent.v1")
    assert card["answered"] == len(answers)
    assert card["on_time_rate"] == round(sum(e.data["on_time"] for e in answers) / len(answers), 4)
    assert card["authority"]["name"] == "Администрация Городского округа Коломна"
    assert sum(m["appeals"] for m in card["trend"]) == card["appeals"]
    assert (await client.get(f"/api/v1/analytics/authorities/{uuid.uuid4()}/card")).status_code == 404


async def test_heatmap_counts_every_problem_once(client: httpx.AsyncClient, loaded: list[SyntheticEvent]) -> None:
    counted = [p for p in _final_problems(loaded).values() if p["status"] not in NOT_COUNTED]
    response = await client.get("/api/v1/analytics/heatmap", params={"bbox": "38.6,55.0,38.9,55.2", "zoom": 13})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    cells = response.json()["features"]
    assert sum(c["properties"]["count"] for c in cells) == len(counted)
    too_big = await client.get("/api/v1/analytics/heatmap", params={"bbox": "-180,-90,180,90", "zoom": 18})
    assert too_big.status_code == 422
    bad = await client.get("/api/v1/analytics/heatmap", params={"bbox": "1,2,3", "zoom": 10})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "query.bbox"


async def test_open_data_is_anonymised(client: httpx.AsyncClient, loaded: list[SyntheticEvent]) -> None:
    counted = {k: p for k, p in _final_problems(loaded).items() if p["status"] not in NOT_COUNTED}
    as_csv = await client.get(f"/api/v1/analytics/open-data/territories/{TOWN}/problems.csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert {r["id"] for r in rows} == set(counted)
    for row in rows:
        assert len(row["lon"].split(".")[1]) <= 3
        assert abs(float(row["lon"]) - counted[row["id"]]["point"]["lon"]) <= 0.0005 + 1e-9
    geo = await client.get(f"/api/v1/analytics/open-data/territories/{TOWN}/problems.geojson")
    features = json.loads(geo.content)["features"]
    assert len(features) == len(counted)
    assert set(features[0]["properties"]) == {
        "id",
        "category_code",
        "category_name",
        "status",
        "reported_at",
        "published_at",
        "solved_at",
        "territory_oktmo",
        "territory_name",
    }
    assert (await client.get(f"/api/v1/analytics/open-data/territories/{uuid.uuid4()}/problems.csv")).status_code == 404


async def test_bad_input_is_named(client: httpx.AsyncClient, loaded: list[SyntheticEvent]) -> None:
    response = await client.get(
        f"/api/v1/analytics/territories/{TOWN}/dashboard", params={"since": "2026-05-01", "until": "2026-04-01"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "query.since"
    response = await client.get("/api/v1/analytics/territories/not-a-uuid/dashboard")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "path.territory_id"
    page = await client.get("/api/v1/analytics/territories", params={"limit": 2})
    assert page.status_code == 200
    first = page.json()
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    following = await client.get("/api/v1/analytics/territories", params={"limit": 100, "cursor": first["next_cursor"]})
    assert len(first["items"]) + len(following.json()["items"]) == 6


async def test_a_period_not_on_week_boundaries_counts_exactly_its_days(
    client: httpx.AsyncClient, loaded: list[SyntheticEvent]
) -> None:
    """The rollups keep whole weeks and single days: a period from a Wednesday to a Friday five weeks later reads
    both, and must count exactly the problems, appeals and votes of its own local days."""
    reported = [_local_day(e.data["reported_at"]) for e in loaded if e.routing_key == "problems.problem.reported.v1"]
    start = min(reported) + timedelta(days=20)
    since = start + timedelta(days=(2 - start.weekday()) % 7)  # a Wednesday
    until = since + timedelta(days=37)  # a Friday, inclusive
    problems = _final_problems(loaded)
    reported_on = {
        e.data["problem_id"]: _local_day(e.data["reported_at"])
        for e in loaded
        if e.routing_key == "problems.problem.reported.v1"
    }
    counted = [k for k, p in problems.items() if p["status"] not in NOT_COUNTED and since <= reported_on[k] <= until]
    sent = [
        e
        for e in loaded
        if e.routing_key == "routing.appeal.sent.v1" and since <= _local_day(e.data["occurred_at"]) <= until
    ]
    params = {"since": str(since), "until": str(until)}
    body = (await client.get(f"/api/v1/analytics/territories/{TOWN}/dashboard", params=params)).json()
    assert body["reported"] == len(counted) > 0
    assert sum(w["new"] for w in body["weekly"]) == len(counted)
    assert sum(c["reported"] for c in body["children"]) == len(counted)
    assert body["response_times"]["appeals"] == len(sent) > 0
    stamps = {"problems.problem.rated.v1": "rated_at", "problems.problem.confirmed.v1": "confirmed_at"}
    stamps["problems.problem.reopened.v1"] = "reopened_at"
    votes = [
        e for e in loaded if e.routing_key in stamps and since <= _local_day(e.data[stamps[e.routing_key]]) <= until
    ]
    rating = (await client.get(f"/api/v1/analytics/territories/{TOWN}/rating", params=params)).json()
    assert sum(i["votes"] for i in rating["items"]) == len(votes) > 0


RAW_CARD = """
SELECT date_trunc('month', a.sent_at AT TIME ZONE 'Europe/Moscow')::date AS month, count(*) AS appeals,
       count(a.answered_at) AS answered, count(*) FILTER (WHERE a.on_time) AS answered_on_time,
       count(*) FILTER (WHERE a.answered_at IS NULL AND a.answer_due_at < now()) AS overdue_now,
       avg(extract(epoch FROM a.answered_at - a.sent_at) / 86400)::float8 AS avg_answer_days,
       count(p.id) FILTER (WHERE p.status = 'solved') AS solved
  FROM analytics.appeals a LEFT JOIN analytics.problems p ON p.id = a.problem_id
 WHERE (a.authority_id = :a OR a.department_id = :a) AND a.sent_at >= :since AND a.sent_at < :until
 GROUP BY GROUPING SETS ((), (1)) ORDER BY 1 NULLS FIRST
"""
"""The card as it was read from every appeal before the rollup ``authority_days``: what the rollup must give."""


@pytest.mark.parametrize("days", [(-100, 0), (-75, -20), (-10, -3), (-200, -150)])
async def test_authority_card_from_the_rollup_equals_the_card_from_every_appeal(
    client: httpx.AsyncClient, engine: AsyncEngine, loaded: list[SyntheticEvent], days: tuple[int, int]
) -> None:

    assert await dump(engine, "authority_days") == await authority_days_from_scratch(engine)
    zone = ZoneInfo("Europe/Moscow")
    today = datetime.now(zone).date()
    since, until = today + timedelta(days=days[0]), today + timedelta(days=days[1] + 1)
    departments = {e.data.get("department_id") for e in loaded if e.routing_key == "routing.appeal.sent.v1"}
    for unit in [ADMIN, *sorted(uuid.UUID(d) for d in departments if d)]:
        response = await client.get(
            f"/api/v1/analytics/authorities/{unit}/card",
            params={"since": str(since), "until": str(until - timedelta(days=1))},  # inclusive
        )
        assert response.status_code == 200
        card = response.json()
        async with engine.connect() as conn:
            rows = (
                (
                    await conn.execute(
                        text(RAW_CARD),
                        {
                            "a": unit,
                            "since": datetime.combine(since, datetime.min.time(), zone),
                            "until": datetime.combine(until, datetime.min.time(), zone),
                        },
                    )
                )
                .mappings()
                .all()
            )

        def figures(row: Any) -> dict[str, Any]:
            answered = row["answered"]
            return {
                "appeals": row["appeals"],
                "answered": answered,
                "overdue_now": row["overdue_now"],
                "on_time_rate": round(row["answered_on_time"] / answered, 4) if answered else None,
                "avg_answer_days": None if row["avg_answer_days"] is None else round(row["avg_answer_days"], 1),
                "share_solved": round(row["solved"] / row["appeals"], 4) if row["appeals"] else None,
            }

        assert {k: card[k] for k in figures(rows[0])} == figures(rows[0])
        assert [{k: m[k] for k in ("month", *figures(rows[0]))} for m in card["trend"]] == [
            {"month": str(r["month"]), **figures(r)} for r in rows[1:]
        ]
