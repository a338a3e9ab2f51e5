"""Analytics benchmark: 1,000,000 problems and their appeals in the read models, built by a rebuild from the
event archive; p95 of the dashboard, the overdue report and the people's rating for a region and for a town,
through real HTTP beside the bare SQL of the same report, in the same run.

    cd /work/main && .venv/bin/python bench/analytics_reports.py                     # 1,000,000 problems
    .venv/bin/python bench/analytics_reports.py --problems 50000 --requests 50        # quicker

It provisions its own throwaway database ``gorod_bench_analytics`` (role ``gorod_bench_analytics_analytics``,
the analytics migrations) and drops it at the end, also on failure or Ctrl-C (``--keep`` keeps it), so it runs
beside ``make up`` and ``make test``. Override the name with ``GOROD_BENCH_ANALYTICS_DATABASE`` and the admin URL
with ``GOROD_ADMIN_DATABASE_URL``.

Steps:

1. generate the synthetic life of N problems (``analytics.domain.synthetic``: reported, published, appeal sent,
   registered, extended, overdue, escalated, answered, solved, rated, confirmed or reopened: about 10 events a
   problem) over the Moscow region: Коломна with its four districts (40 %) and 19 other towns, over a year;
   redact them as the consumer does and COPY them into the archive in time order (not timed: that is the
   consumer's work, event by event, in real life);
2. ``rebuild`` every read model from the archive (timed: goal ≤ 10 minutes for 1M problems);
3. the analytics app in a real uvicorn process on loopback; each report for the region and for Коломна,
   ``--requests`` times after a warm-up, through HTTP and as the bare use case (the same SQL through asyncpg in
   this process), interleaved; p50/p95 of each (goal: HTTP p95 ≤ 100 ms).

Nothing here asserts: the exit code is 0 whether the goals are met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
REBUILD_GOAL_S = 600.0
MODEL_TABLES = (
    "problems",
    "appeals",
    "votes",
    "territories",
    "authorities",
    "problem_days",
    "problem_weeks",
    "appeal_times",
    "vote_attributions",
    "vote_days",
    "authority_days",
)
"""The read models and their rollups (analyzed after the rebuild; an earlier schema lacks some of them)."""
P95_GOAL_MS = 100.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load_archive(dsn: str, problems: int, towns: int, days: int) -> tuple[int, float]:
    """Generate and COPY the events; returns (events, seconds)."""
    import asyncpg

    from analytics.domain.redaction import redact
    from analytics.domain.synthetic import demo_towns, town_stream

    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE UNLOGGED TABLE analytics.archive_load"
            " (event_id uuid, type text, source text, subject text, time timestamptz, data jsonb)"
        )
        batch: list[tuple[Any, ...]] = []
        count = 0
        for item in town_stream(20261122, datetime.now(UTC), problems, demo_towns(towns), days=days):
            batch.append(
                (
                    uuid.uuid4(),
                    "ru.gorod." + item.routing_key,
                    item.routing_key.split(".", 1)[0],
                    item.subject,
                    item.time,
                    json.dumps(redact(item.data)),
                )
            )
            if len(batch) >= 50_000:
                await conn.copy_records_to_table("archive_load", schema_name="analytics", records=batch)
                count += len(batch)
                batch = []
                print(f"  generated {count:,} events", flush=True)
        if batch:
            await conn.copy_records_to_table("archive_load", schema_name="analytics", records=batch)
            count += len(batch)
        print("  archiving in time order …", flush=True)
        await conn.execute(
            "INSERT INTO analytics.archive (event_id, type, source, subject, time, data)"
            " SELECT event_id, type, source, subject, time, data FROM analytics.archive_load ORDER BY time"
        )
        await conn.execute("DROP TABLE analytics.archive_load")
    finally:
        await conn.close()
    return count, time.monotonic() - started


Call = Callable[[], Awaitable[Any]]


async def measure(calls: dict[str, tuple[Call, Call]], requests: int) -> dict[str, tuple[list[float], list[float]]]:
    """For each report: (HTTP ms, bare ms), interleaved so that both see the same machine load."""
    results: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in calls}
    for name, (http_call, bare_call) in calls.items():
        for _ in range(5):  # warm-up
            await http_call()
            await bare_call()
        for _ in range(requests):
            for index, call in enumerate((http_call, bare_call)):
                started = time.perf_counter()
                await call()
                results[name][index].append((time.perf_counter() - started) * 1000)
    return results


async def main(args: argparse.Namespace) -> None:
    sys.path[:0] = [str(ROOT / "services" / "analytics" / "src")]
    from sqlalchemy import text

    from servicekit import provision
    from servicekit.db import asyncpg_dsn, create_engine, create_session_factory

    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    database = os.environ.get("GOROD_BENCH_ANALYTICS_DATABASE", "gorod_bench_analytics")
    [db] = provision.service_databases(admin_url, database, ["analytics"], role_prefix=f"{database}_")
    if not args.reuse:
        await provision.drop_database(admin_url, database, [db])
        print(f"provisioning {database} …", flush=True)
        await provision.create_database(admin_url, database, [db])
    server: subprocess.Popen[bytes] | None = None
    try:
        await asyncio.to_thread(provision.migrate, ROOT / "services" / "analytics", db.url)
        from analytics.domain.synthetic import REGION_OKTMO, TOWN_OKTMO, authority_id, territory_id
        from analytics.settings import AnalyticsSettings
        from analytics.usecases import reports
        from analytics.usecases.projector import rebuild

        os.environ["ANALYTICS_DATABASE_URL"] = db.url
        settings = AnalyticsSettings(database_url=db.url, log_json=False)
        engine = create_engine(settings, pool_size=4)
        if args.reuse:
            async with engine.connect() as conn:
                events = int((await conn.execute(text("SELECT count(*) FROM analytics.archive"))).scalar_one())
            rebuild_s = float("nan")
            admin = await provision.admin_connect(provision._with_database(admin_url, database))
            try:
                for table in MODEL_TABLES:
                    if await admin.fetchval("SELECT to_regclass($1) IS NOT NULL", f"analytics.{table}"):
                        await admin.execute(f"ANALYZE analytics.{table}")
            finally:
                await admin.close()
            print(f"reusing {database}: {events:,} events, read models as left by an earlier run", flush=True)
        else:
            print(f"generating {args.problems:,} problems' events into the archive …", flush=True)
            events, load_s = await load_archive(asyncpg_dsn(db.url), args.problems, args.towns, args.days)
            print(f"archived {events:,} events in {load_s:.0f} s", flush=True)
            admin = await provision.admin_connect(provision._with_database(admin_url, database))
            try:
                await admin.execute("VACUUM ANALYZE analytics.archive")
            finally:
                await admin.close()

            last = [0.0]

            def progress(done: int, total: int, seconds: float) -> None:
                if seconds - last[0] >= 15 or done == total:
                    last[0] = seconds
                    print(f"  rebuild {done:>11,} / {total:,} events × models, {seconds:6.0f} s", flush=True)

            print("rebuilding every read model from the archive …", flush=True)
            started = time.monotonic()
            await rebuild(engine, progress=progress)
            rebuild_s = time.monotonic() - started
            admin = await provision.admin_connect(provision._with_database(admin_url, database))
            try:
                for table in MODEL_TABLES:
                    await admin.execute(f"VACUUM ANALYZE analytics.{table}")
                sizes = {
                    table: await admin.fetchval(f"SELECT count(*) FROM analytics.{table}")  # noqa: S608 - our table names
                    for table in ("problems", "appeals", "votes")
                }
            finally:
                await admin.close()
            print(f"rebuilt in {rebuild_s:.0f} s: {sizes}", flush=True)

        port = free_port()
        env = {
            **os.environ,
            "ANALYTICS_DATABASE_URL": db.url,
            "ANALYTICS_LOG_LEVEL": "WARNING",
            "ANALYTICS_LOG_JSON": "false",
        }
        server = subprocess.Popen(  # noqa: S603, ASYNC220 - our own interpreter, started once
            [
                sys.executable,
                "-m",
                "uvicorn",
                "analytics.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            env=env,
        )
        sessions = create_session_factory(engine)
        region, town = territory_id(REGION_OKTMO), territory_id(TOWN_OKTMO)
        period = reports.period(None, None)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for _ in range(300):
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/health/live")).status_code == 200:
                        break
                await asyncio.sleep(0.1)

            def http(path: str) -> Call:
                async def call() -> Any:
                    response = await client.get(path)
                    response.raise_for_status()
                    return response

                return call

            calls: dict[str, tuple[Call, Call]] = {}
            for label, place in (("region", region), ("town", town)):
                base = f"/api/v1/analytics/territories/{place}"
                overdue = reports.OverdueFilter(place)
                calls[f"dashboard {label}"] = (
                    http(f"{base}/dashboard"),
                    partial(reports.dashboard, sessions, place, period),
                )
                calls[f"overdue {label}"] = (
                    http(f"{base}/overdue"),
                    partial(reports.overdue_summary, sessions, overdue, "overdue", True),
                )
                calls[f"rating {label}"] = (
                    http(f"{base}/rating"),
                    partial(reports.rating, sessions, place, period, 10),
                )
            calls["authority card"] = (
                http(f"/api/v1/analytics/authorities/{authority_id('kolomna-administration')}/card"),
                partial(reports.authority_card, sessions, authority_id("kolomna-administration"), period),
            )
            print(f"measuring {len(calls)} reports × {args.requests} requests …", flush=True)
            results = await measure(calls, args.requests)
        await engine.dispose()
        report(args, events, rebuild_s, results)
    finally:
        if server is not None:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
        if not (args.keep or args.reuse):
            await provision.drop_database(admin_url, database, [db])


def report(args: argparse.Namespace, events: int, rebuild_s: float, results: dict[str, Any]) -> None:
    scale = 1_000_000 / args.problems
    print()
    print(f"{args.problems:,} problems, {events:,} events; {args.requests} requests per report")
    print(f"{'':24} {'HTTP p50':>9} {'HTTP p95':>9} {'SQL p50':>9} {'SQL p95':>9}  {'goal':>10}  verdict")
    for name, (http_ms, bare_ms) in results.items():
        p95 = percentile(http_ms, 0.95)
        verdict = "PASS" if p95 <= P95_GOAL_MS else "FAIL"
        print(
            f"{name:24} {percentile(http_ms, 0.5):8.1f}  {p95:8.1f}  {percentile(bare_ms, 0.5):8.1f}  "
            f"{percentile(bare_ms, 0.95):8.1f}  {'≤ 100 ms':>10}  {verdict}"
        )
    if args.reuse:
        print(f"{'rebuild, all models':24} not measured (--reuse: time `python -m analytics.rebuild` on the database)")
        return
    verdict = "PASS" if rebuild_s * scale <= REBUILD_GOAL_S else "FAIL"
    note = "" if args.problems == 1_000_000 else f" (×{scale:g} to 1M: {rebuild_s * scale:,.0f} s, linear estimate)"
    print(f"{'rebuild, all models':24} {rebuild_s:8.0f} s{note}  {'≤ 600 s':>10}  {verdict}")
    print(f"rebuild rate {events / rebuild_s:,.0f} events/s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--problems", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=100, help="requests per report (after 5 warm-up)")
    parser.add_argument("--towns", type=int, default=19, help="towns besides Коломна in the region")
    parser.add_argument("--days", type=int, default=365, help="problems reported over this many days")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure the reports on a database kept by an earlier --keep run (migrated to head; no load, no rebuild;"
        " implies --keep)",
    )
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
