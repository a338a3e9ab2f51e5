"""Routing benchmark: point → authority resolution over 20,000 synthetic municipal polygons in 85 regions, through the
real consumer path beside the bare PostGIS query; and the deadline timer's scan over 1,000,000 open appeals.

    cd /work/main && .venv/bin/python bench/routing_resolution.py                       # the full run
    .venv/bin/python bench/routing_resolution.py --appeals 100000 --events 200           # quicker

It provisions its own throwaway database ``gorod_bench_routing`` (role ``gorod_bench_routing_routing``, the routing
service's migrations) and RabbitMQ vhost of the same name, and drops both at the end, also on failure or Ctrl-C, so
it runs beside ``make up`` and ``make test``. Override the name with ``GOROD_BENCH_ROUTING_DATABASE``, the admin URL
with ``GOROD_ADMIN_DATABASE_URL`` and the broker with ``GOROD_BENCH_AMQP_BASE``.

The territories: 85 regions on a 17 × 5 grid over Russia's latitudes, each split into a 16 × 15 grid of municipal
cells of which 235-236 are municipalities (20,000 in all; the rest are gaps only the region covers). Every boundary
edge is a wavy line of 12 segments (48 vertices a polygon), shared exactly by the neighbours, so the polygons tile.
Each territory has an administration; each region a rule for ``roads.pothole`` (its road agency) and each
municipality a rule for ``waste.overflow`` (its own department), so resolution walks the whole chain.

Figures (each after a warm-up, the same random points for each):

* bare: the resolution's PostGIS query (``repo.territories_at``'s SQL) as a prepared statement on plain asyncpg.
* resolve: the use case ``appeals.resolve`` (one statement: territories, their rules and administrations with the
  authorities' channel and calendar; then the decision) in a unit of work.
* before: the same decision (routing's ``decide``) from the three round trips the use case made before (territories,
  rules, administrations), kept here as the reference: 200 decisions of both must be equal (reason included).
* consumer: ``problems.problem.published.v1`` events published to RabbitMQ one at a time and handled by the real
  ``ConsumerRunner`` with routing's subscription; the time ``appeals.resolve_with_authority`` takes inside the
  handler, the whole handler (problem copy, resolution, appeal with its timeline and delivery in one statement,
  outbox), and publish → appeal committed.
* deadline scan: one pass of the worker's timer (``timer.check_deadlines``) over ``--appeals`` open appeals of which
  ``--due`` are due (reminders and overdue, processed); then the same pass again, which finds nothing new: that
  second pass is the scan the worker repeats all day.

Goals: resolution p99 ≤ 5 ms (inside the consumer), scan ≤ 1 s. PASS/FAIL lines at the end; the exit code is 0
either way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

REGION_COLS, REGION_ROWS = 17, 5
CELL_COLS, CELL_ROWS = 16, 15
WEST, EAST, SOUTH, NORTH = 30.0, 150.0, 42.0, 70.0
SEGMENTS = 12
JITTER = 0.18
CATEGORIES = [
    ("roads.pothole", "Яма на дороге"),
    ("waste.overflow", "Переполнены контейнеры"),
    ("yard.playground", "Детская площадка"),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


# --------------------------------------------------------------------------------------------- geometry

GX, GY = REGION_COLS * CELL_COLS, REGION_ROWS * CELL_ROWS
DX, DY = (EAST - WEST) / GX, (NORTH - SOUTH) / GY


def _phase(*key: int) -> float:
    return (hash(key) % 10_000) / 10_000 * 2 * math.pi


def _vertical(i: int, j: int) -> list[tuple[float, float]]:
    """The wavy edge on grid line x = i from row j to j + 1 (both ends included), the same for both neighbours."""
    x0, y0, phase = WEST + i * DX, SOUTH + j * DY, _phase(i, j, 1)
    return [
        (x0 + JITTER * DX * math.sin(math.pi * t) * math.sin(phase + 5 * t), y0 + t * DY)
        for t in (k / SEGMENTS for k in range(SEGMENTS + 1))
    ]


def _horizontal(i: int, j: int) -> list[tuple[float, float]]:
    """The wavy edge on grid line y = j from column i to i + 1."""
    x0, y0, phase = WEST + i * DX, SOUTH + j * DY, _phase(i, j, 2)
    return [
        (x0 + t * DX, y0 + JITTER * DY * math.sin(math.pi * t) * math.sin(phase + 5 * t))
        for t in (k / SEGMENTS for k in range(SEGMENTS + 1))
    ]


def _ring_wkt(points: list[tuple[float, float]]) -> str:
    return "SRID=4326;MULTIPOLYGON(((" + ", ".join(f"{x:.6f} {y:.6f}" for x, y in points) + ")))"


def cell_polygon(i: int, j: int) -> str:
    ring = _horizontal(i, j)[:-1]  # bottom, west → east
    ring += _vertical(i + 1, j)[:-1]  # east side, up
    ring += list(reversed(_horizontal(i, j + 1)))[:-1]  # top, east → west
    ring += list(reversed(_vertical(i, j)))  # west side, down, closing the ring
    return _ring_wkt(ring)


def region_polygon(ri: int, rj: int) -> str:
    i0, j0 = ri * CELL_COLS, rj * CELL_ROWS
    i1, j1 = i0 + CELL_COLS, j0 + CELL_ROWS
    ring: list[tuple[float, float]] = []
    for i in range(i0, i1):
        ring += _horizontal(i, j0)[:-1]
    for j in range(j0, j1):
        ring += _vertical(i1, j)[:-1]
    for i in reversed(range(i0, i1)):
        ring += list(reversed(_horizontal(i, j1)))[:-1]
    for j in reversed(range(j0, j1)):
        ring += list(reversed(_vertical(i0, j)))[:-1]
    ring.append(ring[0])
    return _ring_wkt(ring)


def point_in_cell(rng: random.Random, i: int, j: int) -> tuple[float, float]:
    """A point well inside cell (i, j), clear of its wavy edges."""
    return WEST + (i + rng.uniform(0.25, 0.75)) * DX, SOUTH + (j + rng.uniform(0.25, 0.75)) * DY


# -------------------------------------------------------------------------------------------------- load


async def load_territories(conn: Any, municipalities: int) -> dict[str, Any]:
    regions = REGION_COLS * REGION_ROWS
    per_region, extra = divmod(municipalities, regions)
    territory_rows: list[tuple[Any, ...]] = []
    authority_rows: list[tuple[Any, ...]] = []
    rule_rows: list[tuple[Any, ...]] = []
    cells: list[tuple[int, int]] = []
    gaps: list[tuple[int, int]] = []
    number = 0
    for rj in range(REGION_ROWS):
        for ri in range(REGION_COLS):
            number += 1
            region_id = uuid.uuid4()
            oktmo = f"{number:02d}000000"
            territory_rows.append((region_id, None, oktmo, f"Регион {number}", "region", 0, region_polygon(ri, rj)))
            authority_rows.append((uuid.uuid4(), "administration", f"Правительство региона {number}", region_id))
            agency = uuid.uuid4()
            authority_rows.append((agency, "department", f"Дорожное агентство региона {number}", region_id))
            rule_rows.append((uuid.uuid4(), region_id, "roads.pothole", agency))
            count = per_region + (1 if number <= extra else 0)
            slots = [(ri * CELL_COLS + ci, rj * CELL_ROWS + cj) for cj in range(CELL_ROWS) for ci in range(CELL_COLS)]
            random.Random(number).shuffle(slots)
            for k, (i, j) in enumerate(slots):
                if k >= count:
                    gaps.append((i, j))
                    continue
                territory = uuid.uuid4()
                code = f"{number:02d}{k + 1:03d}000"
                territory_rows.append(
                    (
                        territory,
                        region_id,
                        code,
                        f"Муниципальный округ {number}-{k + 1}",
                        "municipal_district",
                        1,
                        cell_polygon(i, j),
                    )
                )
                authority_rows.append(
                    (uuid.uuid4(), "administration", f"Администрация округа {number}-{k + 1}", territory)
                )
                department = uuid.uuid4()
                authority_rows.append((department, "department", f"Служба благоустройства {number}-{k + 1}", territory))
                rule_rows.append((uuid.uuid4(), territory, "waste.overflow", department))
                cells.append((i, j))
    started = time.perf_counter()
    await conn.executemany(
        "INSERT INTO routing.territories (id, parent_id, oktmo, name, level, depth, boundary, timezone) "
        "VALUES ($1, $2, $3, $4, $5, $6, ST_GeomFromEWKT($7), 'Europe/Moscow')",
        territory_rows,
    )
    await conn.executemany(
        "INSERT INTO routing.authorities (id, kind, name, territory_id, timezone, channel) "
        "VALUES ($1, $2, $3, $4, 'Europe/Moscow', 'cabinet')",
        authority_rows,
    )
    await conn.executemany(
        "INSERT INTO routing.jurisdiction_rules (id, territory_id, category_code, authority_id) "
        "VALUES ($1, $2, $3, $4)",
        rule_rows,
    )
    invalid = await conn.fetchval("SELECT count(*) FROM routing.territories WHERE NOT ST_IsValid(boundary)")
    return {
        "territories": len(territory_rows),
        "authorities": len(authority_rows),
        "rules": len(rule_rows),
        "cells": cells,
        "gaps": gaps,
        "invalid": invalid,
        "seconds": time.perf_counter() - started,
        "vertices": await conn.fetchval("SELECT avg(ST_NPoints(boundary)) FROM routing.territories WHERE depth = 1"),
    }


async def load_appeals(conn: Any, count: int, due: int, now: datetime) -> float:
    """``count`` open appeals (30 % sent, 70 % registered/in work) with deadlines 4-30 days away, of which ``due``
    are due now: a quarter each to remind of registration / of the answer, overdue registration / answer."""
    started = time.perf_counter()
    authority = await conn.fetchval("SELECT id FROM routing.authorities WHERE kind = 'administration' LIMIT 1")
    await conn.execute(
        """
        INSERT INTO routing.problems (id, category_id, category_code, category_name, point, address, title,
                                      published_at)
        SELECT md5('p' || n)::uuid, md5('c')::uuid, 'roads.pothole', 'Яма на дороге',
               ST_SetSRID(ST_MakePoint(30 + (n % 1200) * 0.1, 42 + (n % 280) * 0.1), 4326),
               'ул. Синтетическая, ' || n, 'Проблема ' || n, $1
        FROM generate_series(1, $2) AS n
        """,
        now - timedelta(days=5),
        count,
    )
    q = max(1, due // 4)
    await conn.execute(
        """
        INSERT INTO routing.appeals (id, problem_id, authority_id, category_id, category_code, status, channel,
                                     reason, reply_token, sent_at, registration_due_at, registered_at, answer_due_at)
        SELECT md5('a' || n)::uuid, md5('p' || n)::uuid, $1, md5('c')::uuid, 'roads.pothole',
               CASE WHEN n % 10 < 3 THEN 'sent' WHEN n % 10 < 6 THEN 'registered' ELSE 'in_work' END,
               'cabinet', 'синтетическое', md5('t' || n), $2::timestamptz - interval '5 days',
               CASE WHEN n <= $4::int THEN $2::timestamptz + interval '2 days'
                    WHEN n <= 2 * $4::int THEN $2::timestamptz - interval '1 hour'
                    ELSE $2::timestamptz + interval '4 days' + (n % 2600) * interval '10 minutes' END,
               CASE WHEN n % 10 >= 3 THEN $2::timestamptz - interval '4 days' END,
               CASE WHEN n % 10 < 3 THEN NULL
                    WHEN n <= 2 * $4::int THEN $2::timestamptz + interval '40 days'
                    WHEN n <= 3 * $4::int THEN $2::timestamptz + interval '2 days'
                    WHEN n <= 4 * $4::int THEN $2::timestamptz - interval '1 hour'
                    ELSE $2::timestamptz + interval '4 days' + (n % 2600) * interval '10 minutes' END
        FROM generate_series(1, $3::int) AS n
        """,
        authority,
        now,
        count,
        q,
    )
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------------ measure

THREE_QUERIES = (
    "SELECT id, name, oktmo FROM routing.territories "
    "WHERE boundary IS NOT NULL AND ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) "
    "ORDER BY depth DESC, ST_Area(boundary) ASC",
    "SELECT r.territory_id, r.authority_id, r.note, a.name AS authority_name FROM routing.jurisdiction_rules r "
    "JOIN routing.authorities a ON a.id = r.authority_id "
    "WHERE r.territory_id = ANY(:ids) AND r.category_code = :code AND a.active",
    "SELECT territory_id, id, name FROM routing.authorities "
    "WHERE territory_id = ANY(:ids) AND kind = 'administration' AND active",
)


async def three_queries_resolve(session: Any, lon: float, lat: float, code: str, name: str) -> Any:
    """The reference: how ``appeals.resolve`` decided before it became one statement (three round trips: the
    territories, their rules for the category, their administrations), the same domain decision."""
    from sqlalchemy import text

    from routing.domain.jurisdiction import Administration, Rule, TerritoryRef, decide

    territories, rules_sql, admins_sql = THREE_QUERIES
    found = (await session.execute(text(territories), {"lon": lon, "lat": lat})).all()
    chain = [TerritoryRef(r.id, r.name, r.oktmo) for r in found]
    ids = [t.id for t in chain]
    rules = (await session.execute(text(rules_sql), {"ids": ids, "code": code})).all() if ids else []
    admins = (await session.execute(text(admins_sql), {"ids": ids})).all() if ids else []
    return decide(
        chain,
        [Rule(r.territory_id, r.authority_id, r.authority_name, r.note) for r in rules],
        [Administration(r.territory_id, r.id, r.name) for r in admins],
        category_code=code,
        category_name=name,
    )


async def timed(samples: list[Any], call: Callable[[Any], Awaitable[Any]]) -> list[float]:
    out: list[float] = []
    for sample in samples:
        started = time.perf_counter_ns()
        await call(sample)
        out.append((time.perf_counter_ns() - started) / 1e6)
    return out


def sample_points(rng: random.Random, cells: list[tuple[int, int]], gaps: list[tuple[int, int]], n: int) -> list[Any]:
    points = []
    for k in range(n):
        i, j = rng.choice(gaps) if gaps and k % 20 == 0 else rng.choice(cells)  # 5 % in gaps: region only
        lon, lat = point_in_cell(rng, i, j)
        code, name = CATEGORIES[k % len(CATEGORIES)]
        points.append((lon, lat, code, name))
    return points


def published_data(lon: float, lat: float, code: str, name: str, now: datetime) -> dict[str, Any]:
    problem = str(uuid.uuid4())
    return {
        "problem_id": problem,
        "map_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "gorod:map:city")),
        "map_code": "city",
        "category_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"category:{code}")),
        "category_code": code,
        "category_name": name,
        "point": {"lon": lon, "lat": lat},
        "address": "ул. Синтетическая, 1",
        "title": "Синтетическая проблема",
        "description": "Для замера времени маршрутизации.",
        "published_at": now.isoformat(),
        "photos": [],
        "author_id": None,
        "applicant": None,
    }


async def consumer_path(settings: Any, session_factory: Any, points: list[Any], warmup: int) -> dict[str, list[float]]:
    import aio_pika
    from sqlalchemy import event as sa_event

    from routing.events import consumed
    from routing.usecases import appeals
    from servicekit.broker import declare_exchanges
    from servicekit.consumer import ConsumerRunner, Subscription
    from servicekit.events import new_event

    resolve_ms: list[float] = []
    handler_ms: list[float] = []
    committed: dict[str, asyncio.Future[int]] = {}
    original_resolve = appeals.resolve_with_authority

    async def timed_resolve(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter_ns()
        try:
            return await original_resolve(*args, **kwargs)
        finally:
            resolve_ms.append((time.perf_counter_ns() - started) / 1e6)

    async def handler(event: Any, uow: Any) -> None:
        started = time.perf_counter_ns()
        await consumed.on_problem_published(event, uow)
        handler_ms.append((time.perf_counter_ns() - started) / 1e6)
        future = committed.get(event.data["problem_id"])
        if future is not None:
            sa_event.listen(
                uow.session.sync_session,
                "after_commit",
                lambda _session, f=future: f.done() or f.set_result(time.perf_counter_ns()),
                once=True,
            )

    appeals.resolve_with_authority = timed_resolve  # time the resolution inside the real handler
    [published] = [s for s in consumed.SUBSCRIPTIONS if "problems.problem.published.v1" in s.routing_keys]
    runner = ConsumerRunner(
        service_name="routing",
        schema="routing",
        amqp_url=settings.amqp_url,
        session_factory=session_factory,
        subscriptions=[Subscription(published.queue, published.routing_keys, handler)],
    )
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    end_to_end: list[float] = []
    try:
        await asyncio.wait_for(runner.ready.wait(), timeout=30)
        connection = await aio_pika.connect(settings.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await declare_exchanges(channel)
            loop = asyncio.get_running_loop()
            for index, (lon, lat, code, name) in enumerate(points):
                data = published_data(lon, lat, code, name, datetime.now(UTC))
                cloud = new_event("problems.problem.published.v1", data, source="problems", subject=data["problem_id"])
                future: asyncio.Future[int] = loop.create_future()
                committed[data["problem_id"]] = future
                started = time.perf_counter_ns()
                await exchange.publish(
                    aio_pika.Message(body=cloud.to_json_bytes(), message_id=str(cloud.id)),
                    routing_key=cloud.routing_key,
                )
                done = await asyncio.wait_for(future, timeout=30)
                if index >= warmup:
                    end_to_end.append((done - started) / 1e6)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        appeals.resolve_with_authority = original_resolve
    return {"resolve": resolve_ms[warmup:], "handler": handler_ms[warmup:], "end_to_end": end_to_end}


async def deadline_scan(session_factory: Any, now: datetime) -> tuple[float, Any, float, Any]:
    from routing.db.tables import SCHEMA
    from routing.usecases import timer
    from servicekit.uow import UnitOfWork

    async def one_pass() -> tuple[float, Any]:
        started = time.perf_counter()
        async with UnitOfWork(session_factory, SCHEMA) as uow:
            run = await timer.check_deadlines(uow, now=now)
            await uow.commit()
        return time.perf_counter() - started, run

    first, first_run = await one_pass()
    scans = [await one_pass() for _ in range(3)]
    scan, scan_run = min(scans, key=lambda item: item[0])
    return first, first_run, scan, scan_run


# ---------------------------------------------------------------------------------------------------- main


def row(label: str, values: list[float], goal: str = "") -> str:
    return (
        f"{label:<44} {statistics.median(values):8.2f} {percentile(values, 0.99):8.2f} "
        f"{max(values):8.2f} ms  n={len(values):<5} {goal}"
    )


async def main(args: argparse.Namespace) -> None:
    for src in ("libs/servicekit/src", "services/routing/src"):
        sys.path.insert(0, str(ROOT / src))
    import asyncpg

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("routing").setLevel(logging.ERROR)  # "no supervisor" for the synthetic overdue appeals

    from servicekit import provision
    from servicekit.db import asyncpg_dsn, create_engine, create_session_factory

    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    database = os.environ.get("GOROD_BENCH_ROUTING_DATABASE", "gorod_bench_routing")
    amqp_base = os.environ.get("GOROD_BENCH_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672/")
    [db] = provision.service_databases(admin_url, database, ["routing"], role_prefix=f"{database}_")
    await provision.drop_database(admin_url, database, [db])
    await asyncio.to_thread(provision.delete_vhost, database)
    print(f"provisioning {database} (database and vhost) …", flush=True)
    await provision.create_database(admin_url, database, [db])
    await asyncio.to_thread(provision.ensure_vhost, database)
    try:
        await asyncio.to_thread(provision.migrate, ROOT / "services" / "routing", db.url)
        from routing.settings import RoutingSettings

        settings = RoutingSettings(
            database_url=db.url, amqp_url=amqp_base + database, log_json=False, log_level="WARNING"
        )
        conn = await asyncpg.connect(asyncpg_dsn(db.url))
        try:
            print(
                f"loading {args.municipalities:,} municipalities in {REGION_COLS * REGION_ROWS} regions …", flush=True
            )
            loaded = await load_territories(conn, args.municipalities)
            print(
                f"  {loaded['territories']:,} territories ({loaded['vertices']:.0f} vertices each), "
                f"{loaded['authorities']:,} authorities, {loaded['rules']:,} rules in {loaded['seconds']:.0f} s; "
                f"invalid polygons: {loaded['invalid']}",
                flush=True,
            )
            now = datetime.now(UTC).replace(microsecond=0)
            print(f"loading {args.appeals:,} open appeals ({args.due:,} due) …", flush=True)
            appeals_seconds = await load_appeals(conn, args.appeals, args.due, now)
            print(f"  loaded in {appeals_seconds:.0f} s", flush=True)
        finally:
            await conn.close()
        admin = await provision.admin_connect(provision._with_database(admin_url, database))
        try:
            await admin.execute("VACUUM ANALYZE")
        finally:
            await admin.close()

        rng = random.Random(7)
        points = sample_points(rng, loaded["cells"], loaded["gaps"], args.samples + args.warmup)
        events = sample_points(random.Random(8), loaded["cells"], loaded["gaps"], args.events + args.warmup)
        engine = create_engine(settings, pool_size=5)
        sessions = create_session_factory(engine)
        try:
            # bare PostGIS: the same SQL as repo.territories_at, prepared, on plain asyncpg
            conn = await asyncpg.connect(asyncpg_dsn(db.url), server_settings={"search_path": "routing, public"})
            try:
                statement = await conn.prepare(
                    "SELECT id, name, oktmo, level, parent_id, timezone FROM routing.territories "
                    "WHERE boundary IS NOT NULL AND ST_Covers(boundary, ST_SetSRID(ST_MakePoint($1, $2), 4326)) "
                    "ORDER BY depth DESC, ST_Area(boundary) ASC"
                )
                await timed(points[: args.warmup], lambda p: statement.fetch(p[0], p[1]))
                bare = await timed(points[args.warmup :], lambda p: statement.fetch(p[0], p[1]))
                found = [len(await statement.fetch(p[0], p[1])) for p in points[args.warmup : args.warmup + 200]]
            finally:
                await conn.close()

            from sqlalchemy import text

            from routing.db import repo
            from routing.db.tables import SCHEMA
            from routing.usecases import appeals
            from servicekit.uow import UnitOfWork

            async def resolve(p: Any) -> Any:
                async with UnitOfWork(sessions, SCHEMA) as uow:
                    return await appeals.resolve(uow, p[0], p[1], p[2], p[3])

            async def select_one(_p: Any) -> Any:
                async with UnitOfWork(sessions, SCHEMA) as uow:
                    return (await uow.session.execute(text("SELECT 1"))).scalar_one()

            async def territories(p: Any) -> Any:
                async with UnitOfWork(sessions, SCHEMA) as uow:
                    return await repo.territories_at(uow.session, p[0], p[1])

            await timed(points[: args.warmup], select_one)
            floor = await timed(points[args.warmup :], select_one)
            await timed(points[: args.warmup], territories)
            spatial = await timed(points[args.warmup :], territories)
            await timed(points[: args.warmup], resolve)
            use_case = await timed(points[args.warmup :], resolve)

            async def resolve_before(p: Any) -> Any:
                async with UnitOfWork(sessions, SCHEMA) as uow:
                    return await three_queries_resolve(uow.session, p[0], p[1], p[2], p[3])

            await timed(points[: args.warmup], resolve_before)
            before = await timed(points[args.warmup :], resolve_before)
            mismatches = 0
            for p in points[args.warmup : args.warmup + 200]:
                expected, got = await resolve_before(p), await resolve(p)
                mismatches += expected != got  # authority, deciding territory, location and the reason's words
            decided = [await resolve(p) for p in points[args.warmup : args.warmup + 30]]

            print(f"publishing {args.events:,} problems.problem.published.v1 one at a time …", flush=True)
            consumer = await consumer_path(settings, sessions, events, args.warmup)
            async with sessions() as session:
                made = (
                    await session.execute(text("SELECT count(*) FROM routing.appeals WHERE reason <> 'синтетическое'"))
                ).scalar_one()

            print("deadline timer passes …", flush=True)
            first, first_run, scan, scan_run = await deadline_scan(sessions, now)
        finally:
            await engine.dispose()

        goal_resolution = percentile(consumer["resolve"], 0.99) <= 5.0
        goal_scan = scan <= 1.0
        print()
        load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
        print(f"load average {load} on {os.cpu_count()} CPUs (PostgreSQL and RabbitMQ on the same machine)")
        print(f"{'':<44} {'p50':>8} {'p99':>8} {'max':>8}")
        print(row("baseline: unit of work + SELECT 1", floor))
        print(row("bare PostGIS query (asyncpg, prepared)", bare))
        print(row("the same query in a unit of work (SQLAlchemy)", spatial))
        print(row("resolve use case (1 statement + decision)", use_case))
        print(row("before: 3 round trips + the same decision", before, f"{mismatches} of 200 differ"))
        print(row("resolve inside the real consumer", consumer["resolve"], "goal p99 <= 5 ms"))
        print(row("whole handler (copy, resolve, appeal, outbox)", consumer["handler"]))
        print(row("publish -> appeal committed (RabbitMQ)", consumer["end_to_end"]))
        print(
            f"resolve / bare at p50: {statistics.median(consumer['resolve']) / statistics.median(bare):.1f}x; "
            f"territories found per point: {min(found)}-{max(found)}; "
            f"appeals opened by the consumer: {made}/{len(events)}"
        )
        print("sample decisions: " + "; ".join(sorted({d.authority_name for d in decided})[:4]) + " …")
        print()
        print(f"deadline timer over {args.appeals:,} open appeals:")
        print(
            f"  first pass, {args.due:,} due: {first * 1000:8.1f} ms  "
            f"(reminders {first_run.reminders}, overdue {first_run.overdue}, escalated {first_run.escalated})"
        )
        print(
            f"  scan, nothing new (best of 3):  {scan * 1000:8.1f} ms  (steps taken: {scan_run.total})  goal <= 1000 ms"
        )
        print()
        resolution_p99 = percentile(consumer["resolve"], 0.99)
        print(f"{'PASS' if goal_resolution else 'FAIL'} resolution p99 {resolution_p99:.2f} ms <= 5 ms")
        print(f"{'PASS' if goal_scan else 'FAIL'} deadline scan {scan * 1000:.0f} ms <= 1000 ms")
    finally:
        if not args.keep:
            await provision.drop_database(admin_url, database, [db])
            await asyncio.to_thread(provision.delete_vhost, database)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--municipalities", type=int, default=20_000)
    parser.add_argument("--appeals", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1_000, help="appeals due at the first timer pass")
    parser.add_argument("--samples", type=int, default=2_000, help="points for the bare query and the use case")
    parser.add_argument("--events", type=int, default=500, help="events through RabbitMQ and the consumer")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the database and vhost afterwards")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
