"""The archive and the projector: exactly-once archiving, read models built in order, rebuild == incremental."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from analytics.domain import synthetic
from analytics.domain.synthetic import SyntheticEvent, town_stream
from analytics.events.consumed import archive_event
from analytics.usecases.projector import project_once, rebuild
from servicekit.uow import UnitOfWork

from .conftest import (
    MODEL_TABLES,
    NOW,
    Feed,
    appeal_times_from_scratch,
    authority_days_from_scratch,
    cloud_event,
    dump,
    problem_weeks_from_scratch,
    project_all,
    rollup_from_scratch,
    vote_rollups_from_scratch,
)

pytestmark = pytest.mark.integration

CONTRACTS = Path(__file__).resolve().parents[3] / "contracts" / "events"


def test_synthetic_events_satisfy_the_published_contracts() -> None:
    seen: set[str] = set()
    validators: dict[str, jsonschema.protocols.Validator] = {}
    for item in town_stream(7, NOW, 100):
        if item.routing_key not in validators:
            service, entity, verb, version = item.routing_key.split(".")
            schema = json.loads((CONTRACTS / service / f"{entity}.{verb}.{version}.json").read_text())
            cls = jsonschema.validators.validator_for(schema)
            validators[item.routing_key] = cls(schema, format_checker=cls.FORMAT_CHECKER)
        validators[item.routing_key].validate(item.data)
        seen.add(item.routing_key)
    assert len(seen) >= 12  # every kind of event the generator makes was checked


async def test_an_event_is_archived_once_without_personal_data(clean: AsyncEngine, feed: Feed, app: FastAPI) -> None:
    [published] = [e for e in town_stream(1, NOW, 5) if e.routing_key == "problems.problem.published.v1"][:1]
    data = {**published.data, "applicant": {"full_name": "Иван Петров", "email": "ivan@example.org"}}
    item = SyntheticEvent(published.routing_key, published.subject, published.time, data)
    [event] = await feed([item])
    # the same event again, past the inbox (e.g. after the inbox was purged): still one row
    async with UnitOfWork(app.state.kit.session_factory, "analytics") as uow:
        await archive_event(event, uow)
        await uow.commit()
    async with clean.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id, type, data FROM archive"))).all()
    assert len(rows) == 1
    assert rows[0].event_id == event.id
    assert rows[0].type == "ru.gorod.problems.problem.published.v1"
    stored = rows[0].data
    assert "applicant" not in stored
    assert "description" not in stored
    assert "title" not in stored
    assert stored["point"] == published.data["point"]
    assert "Иван" not in json.dumps(stored, ensure_ascii=False)


async def test_a_problem_gets_its_territories_whether_they_arrive_before_or_after_it(
    clean: AsyncEngine, feed: Feed
) -> None:
    stream = list(town_stream(3, NOW, 20))
    directory = [e for e in stream if e.routing_key.startswith("routing.territory") or "authority" in e.routing_key]
    rest = [e for e in stream if e not in directory]
    # problems first, territories after: the territories relocate the problems already there
    await feed(rest[:60])
    await project_all(clean)
    async with clean.connect() as conn:
        unplaced = (await conn.execute(text("SELECT count(*) FROM problems WHERE territory_id IS NULL"))).scalar()
    assert unplaced
    assert unplaced > 0
    await feed(directory)
    await feed(rest[60:])
    await project_all(clean)
    async with clean.connect() as conn:
        rows = (
            await conn.execute(text("SELECT ST_X(point) AS lon, ST_Y(point) AS lat, territory_path FROM problems"))
        ).all()
    region = synthetic.territory_id(synthetic.REGION_OKTMO)
    town = synthetic.territory_id(synthetic.TOWN_OKTMO)
    assert rows
    for row in rows:
        split_lon, split_lat = synthetic.DISTRICT_SPLIT
        quadrant = ("s" if row.lat < split_lat else "n") + ("w" if row.lon < split_lon else "e")
        district = next(o for o, _n, q in synthetic.DISTRICTS if q == quadrant)
        assert row.territory_path == [synthetic.territory_id(district), town, region]


async def test_appeal_lifecycle_extension_escalation_forwarding(clean: AsyncEngine, feed: Feed) -> None:
    stream = list(town_stream(11, NOW, 0))  # the directory only
    sent = next(e for e in town_stream(5, NOW, 50) if e.routing_key == "routing.appeal.sent.v1")
    base = {
        k: sent.data[k]
        for k in (
            "appeal_id",
            "problem_id",
            "authority_id",
            "authority_name",
            "department_id",
            "territory_id",
            "territory_oktmo",
            "category_id",
        )
    }
    at = sent.time
    due = at + timedelta(days=30)
    events = [
        *stream,
        sent,
        SyntheticEvent(
            "routing.appeal.registered.v1",
            sent.subject,
            at,
            {**base, "occurred_at": at.isoformat(), "registered_at": at.isoformat(), "answer_due_at": due.isoformat()},
        ),
        SyntheticEvent(
            "routing.appeal.extended.v1",
            sent.subject,
            at,
            {
                **base,
                "occurred_at": at.isoformat(),
                "answer_due_at": (due + timedelta(days=30)).isoformat(),
                "extended_by_days": 30,
                "reason": "проверка",
            },
        ),
        SyntheticEvent(
            "routing.appeal.escalated.v1",
            sent.subject,
            at,
            {
                **base,
                "occurred_at": at.isoformat(),
                "supervisor_id": base["authority_id"],
                "supervisor_name": "Прокуратура",
                "cause": "overdue",
            },
        ),
        SyntheticEvent(
            "routing.appeal.escalated.v1",
            sent.subject,
            at,
            {
                **base,
                "occurred_at": at.isoformat(),
                "supervisor_id": base["authority_id"],
                "supervisor_name": "Прокуратура",
                "cause": "disputed",
            },
        ),
    ]
    await feed(events)
    await project_all(clean)
    async with clean.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM appeals"))).one()
    assert row.extensions == 1
    assert row.extended_days == 30
    assert row.escalations == 2
    assert row.answer_due_at == due + timedelta(days=30)
    assert row.territory_path[-1] == synthetic.territory_id(synthetic.REGION_OKTMO)
    to = synthetic.authority_id("mo-housing-inspection")
    await feed(
        [
            SyntheticEvent(
                "routing.appeal.forwarded.v1",
                sent.subject,
                at,
                {
                    **base,
                    "occurred_at": at.isoformat(),
                    "from_authority_id": base["authority_id"],
                    "to_authority_id": str(to),
                    "to_authority_name": "Госжилинспекция",
                    "reason": "не наша компетенция",
                },
            )
        ]
    )
    await project_all(clean)
    async with clean.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM appeals"))).one()
    assert row.authority_id == to
    assert row.forwards == 1
    assert row.registered_at is None
    assert row.department_id is None


async def test_incremental_build_and_rebuild_end_identical(clean: AsyncEngine, feed: Feed) -> None:
    stream = list(town_stream(42, NOW, 80))
    # the broker does not keep order across problems: deliver problems interleaved, directory in the middle
    rng = random.Random(1)
    shuffled = stream[12:]
    rng.shuffle(shuffled)
    shuffled[300:300] = stream[:12]
    for start in range(0, len(shuffled), 97):
        await feed(shuffled[start : start + 97])
        await project_once(clean, batch=40)  # the projector lags and catches up in small batches
    await project_all(clean)
    incremental = {table: await dump(clean, table) for table in MODEL_TABLES}
    assert incremental["problem_days"] == await rollup_from_scratch(clean)
    assert incremental["problem_weeks"] == await problem_weeks_from_scratch(clean)
    assert sum(r[5] for r in incremental["problem_weeks"]) == sum(r[5] for r in incremental["problem_days"])
    assert incremental["appeal_times"] == await appeal_times_from_scratch(clean)
    assert incremental["authority_days"] == await authority_days_from_scratch(clean)
    assert sum(r[4] for r in incremental["authority_days"] if r[1] == "month") > 0  # some of them solved
    votes = await vote_rollups_from_scratch(clean)
    assert incremental["vote_attributions"] == votes["vote_attributions"]
    assert len(votes["vote_attributions"]) == len(incremental["votes"])
    assert incremental["vote_days"] == votes["vote_days"]
    assert sum(r[3] for r in incremental["appeal_times"] if r[1] == "week") >= len(incremental["appeals"])
    assert len(incremental["problems"]) == 80
    assert incremental["appeals"]
    assert incremental["votes"]
    indexes = await index_definitions(clean)
    seen: list[tuple[int, int, float]] = []
    applied = await rebuild(clean, batch=123, progress=lambda d, t, s: seen.append((d, t, s)))
    assert await index_definitions(clean) == indexes  # the rollups were filled without theirs, built again after
    assert applied == len(stream)
    assert seen[-1][0] == seen[-1][1] == len(stream) * 4  # events passed by each of the four models
    assert all(a[0] <= b[0] for a, b in itertools.pairwise(seen))
    rebuilt = {table: await dump(clean, table) for table in MODEL_TABLES}
    assert rebuilt["problem_days"] == incremental["problem_days"]
    assert rebuilt["appeal_times"] == incremental["appeal_times"]
    assert rebuilt == incremental
    # and a single model rebuilt alone ends identical too
    await rebuild(clean, ["appeals"])
    assert await dump(clean, "appeals") == incremental["appeals"]
    assert await dump(clean, "appeal_times") == incremental["appeal_times"]
    assert await dump(clean, "vote_days") == incremental["vote_days"]
    assert await dump(clean, "authority_days") == incremental["authority_days"]
    await rebuild(clean, ["problems"])
    assert await dump(clean, "authority_days") == incremental["authority_days"]
    # the rebuild's connection, back in the pool, lets the triggers keep the rollups again
    await feed(list(town_stream(43, NOW, 10)))
    await project_all(clean)
    assert await dump(clean, "problem_days") == await rollup_from_scratch(clean) != incremental["problem_days"]
    assert await dump(clean, "appeal_times") == await appeal_times_from_scratch(clean) != incremental["appeal_times"]
    assert await dump(clean, "vote_days") == (await vote_rollups_from_scratch(clean))["vote_days"]
    assert await dump(clean, "authority_days") == await authority_days_from_scratch(clean)


async def test_the_rebuild_cli_prints_progress_and_rebuilds(clean: AsyncEngine, feed: Feed) -> None:
    await feed(list(town_stream(9, NOW, 30)))
    await project_all(clean)
    before = await dump(clean, "problems")
    async with clean.begin() as conn:
        await conn.execute(text("UPDATE problems SET status = 'withdrawn'"))  # a read model gone wrong
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "analytics.rebuild", "problems", "--batch", "50"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "events × models (" in result.stderr
    assert "100.0%" in result.stderr
    assert await dump(clean, "problems") == before
    bad = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "analytics.rebuild", "nonsense"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "unknown read model" in bad.stderr


async def test_a_vote_without_an_appeal_counts_for_the_problems_latest_appeal(clean: AsyncEngine, feed: Feed) -> None:
    from analytics.usecases import reports
    from servicekit.db import create_session_factory

    stream = list(town_stream(17, NOW, 40))
    rated = next(e for e in stream if e.routing_key == "problems.problem.rated.v1")
    department = next(
        e.data["department_id"]
        for e in stream
        if e.routing_key == "routing.appeal.sent.v1" and e.data["appeal_id"] == rated.data["appeal_id"]
    )
    anonymous = SyntheticEvent(rated.routing_key, rated.subject, rated.time, {**rated.data, "appeal_id": None})
    with_appeal = [e for e in stream if e.routing_key != "problems.problem.rated.v1" or e is not rated]
    await feed([*with_appeal, anonymous])
    await project_all(clean)
    town = synthetic.territory_id(synthetic.TOWN_OKTMO)
    period = reports.period(None, None, today=NOW.date())
    _place, ranked = await reports.rating(create_session_factory(clean), town, period, 1)
    votes = {r.department_id: r.votes for r in ranked}
    expected: dict[str, int] = {}
    appeal_department = {
        e.data["appeal_id"]: e.data["department_id"] for e in stream if e.routing_key == "routing.appeal.sent.v1"
    }
    for e in [*with_appeal, anonymous]:
        if e.routing_key in (
            "problems.problem.rated.v1",
            "problems.problem.confirmed.v1",
            "problems.problem.reopened.v1",
        ):
            owner = appeal_department[e.data["appeal_id"]] if e.data["appeal_id"] else department
            expected[owner] = expected.get(owner, 0) + 1
    assert votes == expected


async def test_a_run_applied_in_rounds_ends_as_applied_one_event_at_a_time(clean: AsyncEngine, feed: Feed) -> None:
    stream = list(town_stream(23, NOW, 40))
    directory, rest = stream[:12], stream[12:]
    rated = next(e for e in rest if e.routing_key == "problems.problem.rated.v1")
    rerated = SyntheticEvent(
        rated.routing_key, rated.subject, rated.time, {**rated.data, "rating": 6 - rated.data["rating"]}
    )
    # territories in the middle (each applied alone, between rounds), and a problem rated twice: the last counts
    fed = [*rest[:150], *directory, *rest[150:], rerated]
    await feed(fed)
    while await project_once(clean, batch=1):  # one event per run: the order of the archive, plainly
        pass
    one_by_one = {table: await dump(clean, table) for table in MODEL_TABLES}
    async with clean.connect() as conn:
        rating = (
            await conn.execute(
                text("SELECT array_agg(score) FROM votes WHERE problem_id = CAST(:p AS uuid) AND kind = 'rating'"),
                {"p": rated.data["problem_id"]},
            )
        ).scalar_one()
    assert rating == [6 - rated.data["rating"]]
    # the whole archive in one run: the events of each problem and appeal a round at a time, all types together
    await rebuild(clean, batch=len(fed))
    assert {table: await dump(clean, table) for table in MODEL_TABLES} == one_by_one
    async with clean.begin() as conn:
        await conn.execute(text("TRUNCATE projection_positions"))
        for table in MODEL_TABLES:
            await conn.execute(text(f"TRUNCATE {table}"))
    await project_once(clean, batch=len(fed))  # and live, where the directory is not built first
    assert {table: await dump(clean, table) for table in MODEL_TABLES} == one_by_one


async def test_an_event_archived_by_a_transaction_that_began_before_a_later_one_committed_is_not_skipped(
    clean: AsyncEngine, feed: Feed, app: FastAPI
) -> None:
    kit = app.state.kit
    territory, other = list(town_stream(5, NOW, 1))[:2]
    assert territory.routing_key == other.routing_key == "routing.territory.changed.v1"
    first = cloud_event(territory)
    async with UnitOfWork(kit.session_factory, "analytics") as slow:
        # as the consumer does: the inbox claim first (the transaction gets its id), the archive row later
        await slow.session.execute(
            text("INSERT INTO inbox (event_id, handler, event_type) VALUES (:e, 'test', :t)"),
            {"e": first.id, "t": first.type},
        )
        await feed([other])  # a later transaction archives its event and commits first
        await project_all(clean)
        async with clean.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM territories"))).scalar_one() == 0
        await archive_event(first, slow)
        await slow.commit()
    await project_all(clean)
    async with clean.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM territories"))).scalar_one() == 2


async def index_definitions(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'analytics' ORDER BY 1")
        )
        return [(r.indexname, r.indexdef) for r in rows]
