"""Problem map benchmark: 1,000,000 synthetic problems over Russia's cities; the map endpoint through real HTTP
beside the bare SQL of the same query, and intake (POST without photos) through the outbox.

    cd /work/main && .venv/bin/python bench/problems_map.py                 # 1,000,000 problems
    .venv/bin/python bench/problems_map.py --problems 100000 --requests 100  # quicker

It provisions its own throwaway database ``gorod_bench_problems`` (role ``gorod_bench_problems_problems``,
the problems service's migrations) and drops it at the end, also on failure or Ctrl-C, so it runs beside
``make up`` and ``make test``. Override the name with ``GOROD_BENCH_PROBLEMS_DATABASE`` and the admin URL with
``GOROD_ADMIN_DATABASE_URL``. The service runs as a real uvicorn process on loopback (two workers, as the
Procfile runs it; ``--workers N`` otherwise), tokens come from a loopback JWKS server (as in the tests).

Figures, each after a warm-up:

* city zoom: ``GET /api/v1/problems/map`` at zoom 13 (a 1280×800 px view, ≈ 0.22° × 0.08°) centred near a
  random city (weighted by population), ≤ 500 problems per answer; HTTP p50/p95 vs the bare query p50/p95
  (the same SQLAlchemy statement, run through asyncpg in this process, same views in the same order, the two
  alternating in runs of ten views so that both see the same state of a shared machine). HTTP is
  timed over one keep-alive connection by a bare socket client (``RawHttp``), so that a Python HTTP client's own
  CPU is not counted as the service's.
* country zoom: zoom 3 and 4 views of the whole country (clusters from the trigger-kept ``map_cells``).
* intake: concurrent ``POST /api/v1/problems`` (no photos) for a fixed time; problems/s, and the outbox rows
  written (each report records ``problems.problem.reported.v1`` and, without pre-moderation, ``published.v1``).
  Twice: from ``wrk`` (Debian package; C, a Lua script makes each body: random city, category, title and
  one of ``--concurrency`` reporters' tokens), whose figure is the one held against the goal, and from this
  process's own httpx clients, as before. On two cores a Python client spends about as much CPU per report as
  the service (printed below), so its rate says as much about the client as about the service.
* CPU of the service per request: user + system CPU of the uvicorn process (and its workers), from ``/proc``,
  per map request and per report, beside this process's own CPU per report (the HTTP client). It moves less than
  the rates and latencies when other work loads the machine, so compare it first between runs.

Nothing here asserts: the exit code is 0 whether the goals are met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

ROOT = Path(__file__).resolve().parents[1]

# (name, lon, lat, population in thousands): where the synthetic problems go, weighted by population.
CITIES = [
    ("Москва", 37.62, 55.75, 13100),
    ("Санкт-Петербург", 30.32, 59.94, 5600),
    ("Новосибирск", 82.92, 55.03, 1630),
    ("Екатеринбург", 60.60, 56.84, 1540),
    ("Казань", 49.12, 55.79, 1310),
    ("Нижний Новгород", 44.00, 56.33, 1210),
    ("Красноярск", 92.87, 56.01, 1200),
    ("Челябинск", 61.40, 55.16, 1180),
    ("Самара", 50.10, 53.20, 1160),
    ("Уфа", 55.97, 54.74, 1160),
    ("Ростов-на-Дону", 39.72, 47.24, 1140),
    ("Краснодар", 38.98, 45.04, 1100),
    ("Омск", 73.37, 54.99, 1110),
    ("Воронеж", 39.20, 51.66, 1050),
    ("Пермь", 56.25, 58.01, 1030),
    ("Волгоград", 44.52, 48.71, 1000),
    ("Саратов", 46.03, 51.53, 900),
    ("Тюмень", 65.53, 57.15, 850),
    ("Тольятти", 49.42, 53.51, 680),
    ("Барнаул", 83.78, 53.35, 630),
    ("Иркутск", 104.28, 52.29, 610),
    ("Ульяновск", 48.40, 54.32, 620),
    ("Хабаровск", 135.07, 48.48, 620),
    ("Владивосток", 131.89, 43.12, 600),
    ("Ярославль", 39.89, 57.63, 570),
    ("Махачкала", 47.50, 42.98, 620),
    ("Томск", 84.95, 56.48, 570),
    ("Оренбург", 55.10, 51.77, 550),
    ("Кемерово", 86.09, 55.35, 550),
    ("Рязань", 39.74, 54.63, 520),
    ("Тула", 37.62, 54.19, 470),
    ("Калининград", 20.51, 54.71, 490),
    ("Мурманск", 33.08, 68.97, 270),
    ("Якутск", 129.73, 62.03, 360),
    ("Петропавловск-Камчатский", 158.65, 53.02, 160),
    ("Анадырь", 177.51, 64.73, 15),
    ("Коломна", 38.77, 55.10, 140),
]
STATUSES = [  # (status, share)
    ("published", 0.25),
    ("sent", 0.10),
    ("registered", 0.08),
    ("in_work", 0.12),
    ("answered", 0.10),
    ("solved", 0.20),
    ("not_solved", 0.05),
    ("forwarded", 0.02),
    ("moderation", 0.04),
    ("rejected", 0.02),
    ("withdrawn", 0.01),
    ("merged", 0.01),
]
CATEGORIES = [
    ("roads", "Дороги", False),
    ("light", "Освещение", False),
    ("waste", "Мусор", False),
    ("housing", "ЖКХ", False),
    ("yards", "Благоустройство", False),
    ("transport", "Транспорт", False),
    ("ecology", "Экология", False),
    ("complaint", "Жалоба на должностное лицо", True),
]
TITLES = [
    "Яма на проезжей части",
    "Не горит уличный фонарь",
    "Переполнены мусорные контейнеры",
    "Протечка крыши в подъезде",
    "Сломана детская площадка",
    "Не ходит автобус по расписанию",
    "Незаконная свалка во дворе",
    "Разбит тротуар",
]
RUSSIA_VIEWS = [("19,41,180,82", 3), ("25,40,95,72", 4), ("85,40,180,75", 4), ("19,41,180,82", 4)]
CITY_ZOOM = 13
VIEW_W, VIEW_H = 1280, 800


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def city_view(rng: random.Random) -> str:
    """A zoom-13 view (1280×800 px) near a city, chosen by population."""
    _name, lon, lat, _pop = rng.choices(CITIES, weights=[c[3] for c in CITIES])[0]
    width = VIEW_W * 360.0 / (256 * 2**CITY_ZOOM)
    height = width * VIEW_H / VIEW_W * 0.6  # Mercator: a degree of latitude is taller at Russia's latitudes
    lon += rng.uniform(-0.08, 0.08)
    lat += rng.uniform(-0.05, 0.05)
    return f"{lon - width / 2:.5f},{lat - height / 2:.5f},{lon + width / 2:.5f},{lat + height / 2:.5f}"


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its children (uvicorn's workers), from ``/proc``; 0 elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            # the command name (field 2) may hold spaces: split after its closing parenthesis
            fields = stat.read_text().rpartition(")")[2].split()
            if int(stat.parent.name) == pid or int(fields[1]) == pid:
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def own_cpu() -> float:
    times = os.times()
    return times.user + times.system


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def load(session: AsyncSession, n: int) -> dict[str, Any]:
    """The map, the categories, and ``n`` problems by INSERT … SELECT generate_series (trigger off, cells rebuilt)."""
    map_id = uuid.uuid4()
    await session.execute(
        text("INSERT INTO problems.maps (id, code, name) VALUES (:id, 'city', 'Городские проблемы')"), {"id": map_id}
    )
    category_ids = []
    for code, name, private in CATEGORIES:
        category_id = uuid.uuid4()
        category_ids.append(category_id)
        await session.execute(
            text(
                "INSERT INTO problems.categories (id, map_id, code, name, private) VALUES (:id, :m, :code, :name, :p)"
            ),
            {"id": category_id, "m": map_id, "code": code, "name": name, "p": private},
        )
    cities = ", ".join(f"({lon}, {lat}, {pop})" for _n, lon, lat, pop in CITIES)
    cumulative, acc = [], 0.0
    for status, share in STATUSES:
        acc += share
        cumulative.append(f"WHEN r < {acc:.4f} THEN '{status}'")
    status_case = "CASE " + " ".join(cumulative) + " ELSE 'published' END"
    titles = "ARRAY[" + ", ".join(f"'{t}'" for t in TITLES) + "]"
    cats = "ARRAY[" + ", ".join(f"'{c}'::uuid" for c in category_ids) + "]"
    await session.execute(text("ALTER TABLE problems.problems DISABLE TRIGGER problems_map_cells_sync"))
    # Bulk load without the secondary indexes, then build each once (much faster than row by row).
    indexes = (
        await session.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'problems'"
                " AND tablename = 'problems' AND indexname <> 'problems_pkey'"
            )
        )
    ).all()
    for name, _definition in indexes:
        await session.execute(text(f'DROP INDEX problems."{name}"'))
    await session.execute(text("SELECT setseed(0.42)"))
    started = time.perf_counter()
    chunk = 200_000
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        await session.execute(
            text(
                f"""
                WITH city AS (
                    SELECT lon, lat, pop, sum(pop) OVER (ORDER BY pop DESC, lon)::float8 / sum(pop) OVER () AS upto,
                           sqrt(pop) / 400.0 AS spread
                      FROM (VALUES {cities}) AS c(lon, lat, pop)
                ), pick AS (
                    SELECT g, random() AS u, random() AS r, random() AS a, random() AS d, random() AS k,
                           random() AS t
                      FROM generate_series(1, {size}) AS g
                )
                INSERT INTO problems.problems (id, map_id, category_id, status, private, point, address, title,
                                               description, reported_at, supports_count)
                SELECT gen_random_uuid(), '{map_id}'::uuid, ({cats})[1 + floor(k * {len(category_ids)})::int],
                       {status_case}, floor(k * {len(category_ids)})::int = {len(category_ids) - 1},
                       ST_SetSRID(ST_MakePoint(c.lon + sqrt(d) * c.spread * 1.7 * cos(2 * pi() * a),
                                               c.lat + sqrt(d) * c.spread * sin(2 * pi() * a)), 4326),
                       'ул. Ленина, ' || (g % 200 + 1), ({titles})[1 + (g % {len(TITLES)})],
                       'Описание проблемы номер ' || g,
                       now() - make_interval(secs => t * 3 * 365 * 86400), floor(t * t * 40)::int
                  FROM pick
                  CROSS JOIN LATERAL (SELECT * FROM city WHERE city.upto >= pick.u ORDER BY upto LIMIT 1) c
                """  # noqa: S608 - constants of this script only
            )
        )
        print(f"  loaded {start + size:,} / {n:,} ({time.perf_counter() - started:.0f} s)", flush=True)
    await session.execute(text("SET LOCAL maintenance_work_mem = '256MB'"))
    for name, definition in indexes:
        await session.execute(text(definition))
        print(f"  index {name} built ({time.perf_counter() - started:.0f} s)", flush=True)
    cells = (await session.execute(text("SELECT problems.map_cells_rebuild()"))).scalar_one()
    await session.execute(text("ALTER TABLE problems.problems ENABLE TRIGGER problems_map_cells_sync"))
    return {"map_id": map_id, "cells": cells, "load_seconds": time.perf_counter() - started}


async def measure_bare(connection: AsyncConnection, views: list[tuple[str, int]]) -> list[float]:
    """The same statements the endpoint runs (problems.db.reads), through asyncpg in this process, on a connection
    in autocommit as the service's."""
    from problems.db import reads
    from problems.domain import clusters

    times = []
    for bbox, zoom in views:
        box = clusters.parse_bbox(bbox)
        filters = reads.Filters()
        started = time.perf_counter()
        if clusters.shows_features(zoom):
            await reads.map_features_json(connection, filters, box, clusters.MAX_FEATURES)
        else:
            level = clusters.level_for_zoom(zoom)
            await reads.map_clusters_json(connection, filters, level, clusters.cell_ranges(box, level), box)
        times.append((time.perf_counter() - started) * 1000)
    return times


class RawHttp:
    """Keep-alive HTTP/1.1 GETs over one loopback connection with nothing but the socket, for the map's latency:
    httpx spends 1–2 ms of CPU per request, as much as the country zoom's query, and would be counted as the
    service's. The answer is read by its Content-Length (the service does not chunk JSON)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length: *(\d+)", head)
        body = await self.reader.readexactly(int(length[1]) if length else 0)
        return int(head.split(b" ", 2)[1]), body

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()


async def measure_http(client: RawHttp, views: list[tuple[str, int]]) -> tuple[list[float], list[int]]:
    times, sizes = [], []
    for bbox, zoom in views:
        target = "/api/v1/problems/map?" + urllib.parse.urlencode({"bbox": bbox, "zoom": zoom})
        started = time.perf_counter()
        status, body = await client.get(target)
        times.append((time.perf_counter() - started) * 1000)
        assert status == 200, body[:300]
        sizes.append(len(json.loads(body)["features"]))
    return times, sizes


async def intake(client: httpx.AsyncClient, minter: Any, seconds: float, concurrency: int) -> tuple[int, int, float]:
    rng = random.Random(7)
    deadline = time.perf_counter() + seconds
    done, failed = 0, 0

    async def reporter() -> None:
        nonlocal done, failed
        headers = minter.bearer("problems", subject=uuid.uuid4(), roles=["citizen"], ttl=3600)
        while time.perf_counter() < deadline:
            _name, lon, lat, _pop = rng.choice(CITIES)
            body = {
                "map": "city",
                "category": rng.choice(CATEGORIES[:-1])[0],
                "point": {"lon": lon + rng.uniform(-0.05, 0.05), "lat": lat + rng.uniform(-0.03, 0.03)},
                "address": "ул. Ленина, 1",
                "title": rng.choice(TITLES),
                "description": "Нагрузочный тест приёма обращений.",
            }
            response = await client.post("/api/v1/problems", json=body, headers=headers)
            if response.status_code == 201:
                done += 1
            else:
                failed += 1
                if failed <= 3:
                    print(f"  intake: {response.status_code} {response.text[:300]}", flush=True)

    started = time.perf_counter()
    await asyncio.gather(*(reporter() for _ in range(concurrency)))
    return done, failed, time.perf_counter() - started


WRK_SCRIPT = """
math.randomseed(7)
local cities = {{{cities}}}
local categories = {{{categories}}}
local titles = {{{titles}}}
local tokens = {{{tokens}}}
request = function()
  local c = cities[math.random(#cities)]
  local body = string.format(
    '{{"map":"city","category":"%s","point":{{"lon":%.6f,"lat":%.6f}},"address":"ул. Ленина, 1",' ..
    '"title":"%s","description":"Нагрузочный тест приёма обращений."}}',
    categories[math.random(#categories)], c[1] + (math.random() - 0.5) * 0.1, c[2] + (math.random() - 0.5) * 0.06,
    titles[math.random(#titles)])
  local headers = {{["Content-Type"] = "application/json", ["Authorization"] = tokens[math.random(#tokens)]}}
  return wrk.format("POST", "/api/v1/problems", headers, body)
end
"""


def intake_wrk(base: str, minter: Any, seconds: float, concurrency: int) -> tuple[int, int, float, float]:
    """Intake driven by wrk: (answered, refused, seconds, wrk's CPU seconds)."""
    tokens = [
        minter.bearer("problems", subject=uuid.uuid4(), roles=["citizen"], ttl=3600)["Authorization"]
        for _ in range(concurrency)
    ]
    rng = random.Random(7)
    cities = [(lon, lat) for _name, lon, lat, pop in CITIES for _ in range(max(1, round(pop / 100)))]
    rng.shuffle(cities)
    script = WRK_SCRIPT.format(
        cities=", ".join(f"{{{lon}, {lat}}}" for lon, lat in cities),
        categories=", ".join(f'"{code}"' for code, _name, _hidden in CATEGORIES[:-1]),
        titles=", ".join(f'"{title}"' for title in TITLES),
        tokens=", ".join(f'"{token}"' for token in tokens),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", file.name, base]
        before = os.times()
        started = time.perf_counter()
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
        elapsed = time.perf_counter() - started
        after = os.times()
    finally:
        os.unlink(file.name)
    answered = int(re.search(r"(\d+) requests in", output)[1])  # type: ignore[index]
    refused_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    refused = int(refused_match[1]) if refused_match else 0
    wrk_cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return answered - refused, refused, elapsed, wrk_cpu


async def main(args: argparse.Namespace) -> None:
    from servicekit import provision
    from servicekit.db import create_engine, create_session_factory
    from servicekit.testing.tokens import JwksServer, SigningKey, TokenMinter

    sys.path[:0] = [str(ROOT / "services" / "problems" / "src")]
    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    database = os.environ.get("GOROD_BENCH_PROBLEMS_DATABASE", "gorod_bench_problems")
    [db] = provision.service_databases(admin_url, database, ["problems"], role_prefix=f"{database}_")
    if not args.reuse:
        await provision.drop_database(admin_url, database, [db])
        print(f"provisioning {database} …", flush=True)
        await provision.create_database(admin_url, database, [db])
    server: subprocess.Popen[bytes] | None = None
    jwks = JwksServer()
    try:
        if not args.reuse:
            await asyncio.to_thread(provision.migrate, ROOT / "services" / "problems", db.url)
        from problems.settings import ProblemsSettings

        os.environ["PROBLEMS_DATABASE_URL"] = db.url
        settings = ProblemsSettings(database_url=db.url, log_json=False)
        engine = create_engine(settings, pool_size=2)
        sessions = create_session_factory(engine)
        if args.reuse:
            # A previous run's intake left cell deltas that the service's worker would have folded by now.
            from problems.usecases import map_cells

            print(f"folded {await map_cells.fold(sessions):,} cell deltas left by the previous run", flush=True)
            args.problems = await _count(sessions, "SELECT count(*) FROM problems.problems")
            cells = await _count(sessions, "SELECT count(*) FROM problems.map_cells")
            loaded = {"cells": cells, "load_seconds": 0.0}
        else:
            print(f"loading {args.problems:,} problems …", flush=True)
            async with sessions() as session, session.begin():
                loaded = await load(session, args.problems)
            admin = await provision.admin_connect(provision._with_database(admin_url, database))
            try:
                await admin.execute("VACUUM ANALYZE problems.problems")
                await admin.execute("VACUUM ANALYZE problems.map_cells")
            finally:
                await admin.close()
        print(f"loaded in {loaded['load_seconds']:.0f} s; {loaded['cells']:,} cluster cells", flush=True)

        minter = TokenMinter(jwks, SigningKey.generate_rsa("bench"))
        jwks.publish(minter.key.jwk())
        jwks.start()
        port = free_port()
        env = {
            **os.environ,
            "PROBLEMS_DATABASE_URL": db.url,
            "PROBLEMS_JWKS_URL": minter.jwks_url,
            "PROBLEMS_JWT_ISSUER": minter.issuer,
            "PROBLEMS_LOG_LEVEL": "WARNING",
            "PROBLEMS_LOG_JSON": "false",
            "PROBLEMS_PHOTO_DIR": str(Path(tempfile.mkdtemp(prefix="gorod-bench-photos-"))),
        }
        server = subprocess.Popen(  # noqa: S603, ASYNC220 - our own interpreter, started once
            [
                sys.executable,
                "-m",
                "uvicorn",
                "problems.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
                "--workers",
                str(args.workers),
            ],
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(1200):  # up to 2 minutes: a busy machine starts several workers slowly
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health/live")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.0 if args.workers > 1 else 0.0)  # the other workers (the first answered)
            rng = random.Random(1)
            city = [(city_view(rng), CITY_ZOOM) for _ in range(args.requests)]
            country = [RUSSIA_VIEWS[i % len(RUSSIA_VIEWS)] for i in range(args.requests)]
            results = {}
            cpu: dict[str, tuple[float, float]] = {}  # phase -> (service CPU s, this process's CPU s)
            raw = RawHttp("127.0.0.1", port)
            async with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as connection:
                for label, views in (("city", city), ("country", country)):
                    await measure_http(raw, views[:20])  # warm-up
                    await measure_bare(connection, views[:20])
                    # HTTP and bare in alternating runs of ten views: the shared machine's speed drifts over a
                    # minute, and two long phases one after the other would each see a different machine.
                    http_ms, bare_ms, sizes, service_cpu = [], [], [], 0.0
                    for start in range(0, len(views), 10):
                        server_cpu = process_cpu(server.pid)
                        times, answered = await measure_http(raw, views[start : start + 10])
                        service_cpu += process_cpu(server.pid) - server_cpu
                        http_ms += times
                        sizes += answered
                        bare_ms += await measure_bare(connection, views[start : start + 10])
                    cpu[label] = (service_cpu, 0.0)
                    results[label] = (http_ms, bare_ms, sizes)
            await raw.close()
            outbox_before = await _count(sessions, "SELECT count(*) FROM problems.outbox")
            print(f"intake for {args.intake_seconds:.0f} s with {args.concurrency} clients …", flush=True)
            server_cpu, client_cpu = process_cpu(server.pid), own_cpu()
            done, failed, elapsed = await intake(client, minter, args.intake_seconds, args.concurrency)
            cpu["intake"] = (process_cpu(server.pid) - server_cpu, own_cpu() - client_cpu)
            outbox_rows = await _count(sessions, "SELECT count(*) FROM problems.outbox") - outbox_before
            intakes = {"httpx": (done, failed, elapsed, outbox_rows)}
            if shutil.which("wrk"):
                print(
                    f"intake by wrk for {args.intake_seconds:.0f} s with {args.concurrency} connections …", flush=True
                )
                outbox_before = await _count(sessions, "SELECT count(*) FROM problems.outbox")
                server_cpu = process_cpu(server.pid)
                done, failed, elapsed, wrk_cpu = await asyncio.to_thread(
                    intake_wrk, base, minter, args.intake_seconds, args.concurrency
                )
                cpu["intake by wrk"] = (process_cpu(server.pid) - server_cpu, wrk_cpu)
                outbox_rows = await _count(sessions, "SELECT count(*) FROM problems.outbox") - outbox_before
                intakes["wrk"] = (done, failed, elapsed, outbox_rows)
            else:
                print("wrk not found (Debian package wrk): intake measured by httpx only", flush=True)
        await engine.dispose()
        report(args, loaded, results, intakes, cpu)
    finally:
        if server is not None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
        jwks.stop()
        if not args.keep:
            await provision.drop_database(admin_url, database, [db])


async def _count(sessions: Any, sql: str) -> int:
    async with sessions() as session:
        return int((await session.execute(text(sql))).scalar_one())


def report(
    args: argparse.Namespace,
    loaded: dict[str, Any],
    results: dict[str, tuple[list[float], list[float], list[int]]],
    intakes: dict[str, tuple[int, int, float, int]],
    cpu: dict[str, tuple[float, float]],
) -> None:
    goals = {"city": 30.0, "country": 60.0}
    print()
    print(f"{'':34}{'measured':>12}  {'goal':<12}")
    for label, (http_ms, bare_ms, sizes) in results.items():
        p95_http, p95_bare = percentile(http_ms, 0.95), percentile(bare_ms, 0.95)
        ratio = statistics.median(http_ms) / max(statistics.median(bare_ms), 1e-6)
        ok = "PASS" if p95_http <= goals[label] else "FAIL"
        print(f"{label + ' zoom HTTP p50':34}{percentile(http_ms, 0.5):>9.1f} ms")
        print(f"{label + ' zoom HTTP p95':34}{p95_http:>9.1f} ms  <= {goals[label]:.0f} ms     {ok}")
        print(f"{label + ' zoom bare SQL p50':34}{percentile(bare_ms, 0.5):>9.1f} ms")
        print(f"{label + ' zoom bare SQL p95':34}{p95_bare:>9.1f} ms")
        ratio_ok = "PASS" if ratio <= 2.0 else "FAIL"
        print(f"{label + ' zoom HTTP / bare (p50)':34}{ratio:>12.2f}  <= 2.0       {ratio_ok}")
        print(
            f"{label + ' zoom features per answer':34}{statistics.mean(sizes):>12.0f}  "
            f"(min {min(sizes)}, max {max(sizes)})"
        )
    judged = "wrk" if "wrk" in intakes else "httpx"
    for load, (done, _failed, elapsed, _rows) in intakes.items():
        rate = done / elapsed if elapsed else 0.0
        verdict = ("PASS" if rate >= 300 else "FAIL") if load == judged else "(not judged)"
        print(f"{'intake by ' + load + ' (POST, no photos)':34}{rate:>8.0f} /s  >= 300/s     {verdict}")
    print()
    print(
        f"{args.problems:,} problems loaded in {loaded['load_seconds']:.0f} s; {loaded['cells']:,} cluster cells; "
        f"{args.requests} requests per zoom (sequential, one client, after 20 warm-up requests)."
    )
    print(
        f"CPU of the service per map request: city {cpu['city'][0] / args.requests * 1000:.1f} ms, country "
        f"{cpu['country'][0] / args.requests * 1000:.1f} ms."
    )
    for load, (done, failed, elapsed, rows) in intakes.items():
        phase = "intake" if load == "httpx" else "intake by wrk"
        requests = max(done + failed, 1)
        print(
            f"intake by {load}: {done} created, {failed} refused in {elapsed:.1f} s, {args.concurrency} clients;"
            f" {rows} outbox rows written; CPU per report: service {cpu[phase][0] / requests * 1000:.1f} ms,"
            f" load generator {cpu[phase][1] / requests * 1000:.2f} ms."
        )
    print(f"the service ran as {args.workers} uvicorn worker(s).")
    print(f"machine load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200, help="map requests per zoom")
    parser.add_argument("--intake-seconds", type=float, default=15.0)
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent reporters in the intake phase")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of the service (Procfile: 2)")
    parser.add_argument("--keep", action="store_true", help="keep the database (for a look afterwards)")
    parser.add_argument("--reuse", action="store_true", help="reuse the database a --keep run left (no load)")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
