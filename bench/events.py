"""Events benchmark: outbox -> relay -> RabbitMQ -> inbox, against raw aio-pika measured in the same run.

    cd /work/main && .venv/bin/python bench/events.py [--events N] [--rate 500] [--seconds S]

It provisions its own throwaway database ``gorod_bench`` (scratch role ``gorod_bench_bench``, schema
``bench`` with the kit tables, the NOTIFY trigger and a business table) and RabbitMQ vhost ``gorod_bench``,
and drops both at the end, so it can run beside ``make up`` and ``make test``. See bench/README.md.

Phases, in order (each after a small warm-up):

1. raw: aio-pika on one connection, publish N persistent messages with publisher confirms (a sliding window
   of in-flight confirms) to the same kind of quorum queue the pipeline uses, consumed on the same
   connection with the same prefetch, acking each. Events/s from the first publish to the last ack.
2. pipeline throughput: N events are written to the outbox first (one UnitOfWork per event by default,
   several concurrent writers; this write time is *excluded* and reported apart), then the real
   ``OutboxRelay.run`` and a real ``ConsumerRunner`` drain them; the handler inserts one row into a business
   table in the consumer's unit of work. Events/s from the relay's start to the commit of the last effect.
3. raw again (the machine is noisy: the baseline is the mean of the two raw runs).
4. latency: a producer in a separate process (as an API process would be) commits one event per unit of
   work at a fixed rate, paced by the wall clock, while the relay (woken by LISTEN/NOTIFY, 1 s poll as a
   fallback) and the consumer run; latency is from just before the producer's commit to the commit of the
   handler's effect.

Nothing here is an assertion: the exit code is 0 whether the goals are met or missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import logging
import multiprocessing
import os
import resource
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

import aio_pika
import asyncpg
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, insert, select, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from servicekit import provision
from servicekit.broker import QueueTopology, connect, declare_exchanges, declare_queue
from servicekit.consumer import LANES, ConsumerRunner, Subscription
from servicekit.db import asyncpg_dsn, create_engine, create_session_factory
from servicekit.events import CONTENT_TYPE, CloudEvent, new_event
from servicekit.migrations.kit_v1 import notify_trigger_statements
from servicekit.relay import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.tables import kit_tables
from servicekit.uow import UnitOfWork
from servicekit.worker import event_loop_factory

SERVICE = "bench"
"""Service name, schema, CloudEvents source and first part of every routing key."""
ROUTING_KEY = f"{SERVICE}.thing.happened.v1"
QUEUE = f"{SERVICE}.effects"
RAW_ROUTING_KEY = f"{SERVICE}.raw.sent.v1"
RAW_QUEUE = f"{SERVICE}.raw"
WORKER_POOL_SIZE = 5
"""What ``servicekit.worker.run_worker`` gives the relay and the consumers (pool 5, overflow 5)."""
PRODUCER_POOL_SIZE = 10
"""``servicekit.db.create_engine``'s default, which an API process uses (pool 10, overflow 10)."""

GOAL_RATIO = 0.3
GOAL_P99_MS = 250.0

business = MetaData(schema=SERVICE)
effects = Table(
    "effects",
    business,
    Column("event_id", UUID(as_uuid=True), primary_key=True),
    Column("phase", Text, nullable=False),
    Column("seq", Integer, nullable=False),
)

log = logging.getLogger("bench.events")


def _default(name: str) -> Any:
    return ServiceSettings.model_fields[name].default


# --------------------------------------------------------------------------------------------------- stats


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list (``q`` in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), round(q / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


def cpu_seconds() -> float:
    """User + system CPU of this process (the worker's share of the machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all cores since boot, from /proc/stat; (0, 0) where there is none."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(v) for v in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return sum(fields[:8]) - idle, sum(fields[:8])


def machine_busy_since(ticks: tuple[int, int]) -> float:
    """Share of the whole machine (all cores) busy since ``ticks`` were read: 1.0 is saturated."""
    busy, total = machine_cpu_ticks()
    return (busy - ticks[0]) / (total - ticks[1]) if total > ticks[1] else float("nan")


SERVER_PROCESSES = {"postgres": "PostgreSQL", "beam.smp": "RabbitMQ"}
"""Process names (``comm``) of the two servers whose CPU the latency run reports per event."""


def server_cpu_ticks() -> dict[int, tuple[str, int]]:
    """{pid: (server, user + system clock ticks)} of every PostgreSQL and RabbitMQ process, from /proc."""
    ticks: dict[int, tuple[str, int]] = {}
    for entry in os.scandir("/proc") if os.path.isdir("/proc") else ():
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                line = stat.read()
        except OSError:  # it ended meanwhile
            continue
        server = SERVER_PROCESSES.get(line[line.index("(") + 1 : line.rindex(")")])
        if server is not None:
            fields = line[line.rindex(")") + 2 :].split()
            ticks[int(entry.name)] = (server, int(fields[11]) + int(fields[12]))  # utime + stime
    return ticks


def server_cpu_since(before: dict[int, tuple[str, int]]) -> dict[str, float]:
    """CPU seconds each server used since ``before``; a process that ended meanwhile is not counted."""
    used = dict.fromkeys(SERVER_PROCESSES.values(), 0.0)
    hz = os.sysconf("SC_CLK_TCK")
    for pid, (server, ticks) in server_cpu_ticks().items():
        used[server] += (ticks - before.get(pid, (server, 0))[1]) / hz
    return used


@dataclass(frozen=True)
class Rate:
    per_second: float
    cpu_us: float
    """CPU of this process per event, in microseconds: steadier than the rate on a busy machine."""


# ----------------------------------------------------------------------------------------- raw baseline


class RawBaseline:
    """Plain aio-pika: one connection, a confirming publisher channel and a consuming channel."""

    def __init__(self, amqp_url: str, *, prefetch: int, window: int, body: bytes) -> None:
        self._amqp_url = amqp_url
        self._prefetch = prefetch
        self._window = window
        self._body = body

    async def run(self, n: int) -> Rate:
        """Publish and consume ``n`` messages; events/s from the first publish to the last ack."""
        connection = await connect(self._amqp_url)
        try:
            publisher = await connection.channel(publisher_confirms=True, on_return_raises=True)
            exchange = await declare_exchanges(publisher)
            consumer = await connection.channel()
            await consumer.set_qos(prefetch_count=self._prefetch)
            topology = QueueTopology(RAW_QUEUE, (RAW_ROUTING_KEY,), delivery_limit=10, retry_delays=())
            queue = await declare_queue(consumer, topology)  # the same quorum queue arguments
            await queue.purge()
            acked = 0
            last_ack = 0
            done = asyncio.Event()

            async def on_message(message: AbstractIncomingMessage) -> None:
                nonlocal acked, last_ack
                await message.ack()
                acked += 1
                if acked == n:
                    last_ack = time.perf_counter_ns()
                    done.set()

            tag = await queue.consume(on_message)
            window = asyncio.Semaphore(self._window)

            async def publish_one() -> None:
                try:
                    await exchange.publish(
                        aio_pika.Message(
                            body=self._body,
                            content_type=CONTENT_TYPE,
                            message_id=str(uuid.uuid4()),
                            headers={},
                            delivery_mode=DeliveryMode.PERSISTENT,
                            timestamp=datetime.now(UTC),
                        ),
                        routing_key=RAW_ROUTING_KEY,
                        mandatory=True,
                    )
                finally:
                    window.release()

            cpu = cpu_seconds()
            start = time.perf_counter_ns()
            in_flight: set[asyncio.Task[None]] = set()
            for _ in range(n):
                await window.acquire()
                task = asyncio.create_task(publish_one())
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            await asyncio.gather(*in_flight)
            await asyncio.wait_for(done.wait(), timeout=120)
            rate = Rate(n / ((last_ack - start) / 1e9), (cpu_seconds() - cpu) * 1e6 / n)
            await queue.cancel(tag)
            return rate
        finally:
            await connection.close()


def sample_body() -> bytes:
    """A body of the size the relay publishes for a latency event."""
    event = new_event(ROUTING_KEY, {"phase": "raw", "seq": 0, "sent_ns": time.perf_counter_ns()}, source=SERVICE)
    return json.dumps(event.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":")).encode()


# ---------------------------------------------------------------------------------------------- pipeline


@dataclass
class Sink:
    """What the handler reports: per phase, when each event's effect was committed."""

    phase: str = ""
    expected: int = 0
    handled: dict[int, int] = field(default_factory=dict)
    latencies_ns: list[int] = field(default_factory=list)
    last_ns: int = 0
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self, phase: str, expected: int) -> None:
        self.phase, self.expected = phase, expected
        self.handled, self.latencies_ns, self.last_ns = {}, [], 0
        self.done = asyncio.Event()

    def expect(self, expected: int) -> None:
        self.expected = expected
        if len(self.handled) >= expected:
            self.done.set()

    def committed(self, data: dict[str, Any]) -> None:
        now = time.perf_counter_ns()
        if data.get("phase") != self.phase or data["seq"] in self.handled:
            return
        self.handled[data["seq"]] = now
        self.latencies_ns.append(now - data["sent_ns"])
        self.last_ns = now
        if len(self.handled) >= self.expected:
            self.done.set()


def make_handler(sink: Sink) -> Any:
    async def handle(event: CloudEvent, uow: UnitOfWork) -> None:
        data = event.data
        await uow.session.execute(insert(effects).values(event_id=event.id, phase=data["phase"], seq=data["seq"]))
        # "Handled" means the effect (and the inbox row) committed: the runner commits after we return.
        uow.after_commit(lambda: sink.committed(data))

    return handle


async def write_outbox(
    session_factory: async_sessionmaker[AsyncSession], phase: str, n: int, *, writers: int, per_uow: int
) -> float:
    """Commit ``n`` events: ``writers`` concurrent writers, ``per_uow`` events per unit of work; seconds."""
    next_seq = 0

    async def writer() -> None:
        nonlocal next_seq
        while next_seq < n:
            first, next_seq = next_seq, min(n, next_seq + per_uow)
            async with UnitOfWork(session_factory, SERVICE) as uow:
                for seq in range(first, next_seq):
                    data = {"phase": phase, "seq": seq, "sent_ns": time.perf_counter_ns()}
                    uow.record(new_event(ROUTING_KEY, data, source=SERVICE))
                await uow.commit()

    start = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return time.perf_counter() - start


@dataclass
class Pipeline:
    settings: ServiceSettings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    sink: Sink
    batch_size: int
    poll_interval: float
    pre_ping: bool

    def relay(self) -> OutboxRelay:
        return OutboxRelay(
            engine=self.engine,
            schema=SERVICE,
            amqp_url=self.settings.amqp_url,
            batch_size=self.batch_size,
            poll_interval=self.poll_interval,
        )

    async def drain(
        self, phase: str, n: int, *, writers: int, per_uow: int, profiler: cProfile.Profile | None = None
    ) -> tuple[Rate, float]:
        """Fill the outbox with ``n`` events, then relay and consume them: (rate, write seconds)."""
        write_seconds = await write_outbox(self.session_factory, phase, n, writers=writers, per_uow=per_uow)
        self.sink.start(phase, n)
        stop = asyncio.Event()
        if profiler is not None:
            profiler.enable()
        cpu = cpu_seconds()
        start = time.perf_counter_ns()
        relaying = asyncio.create_task(self.relay().run(stop))
        try:
            await asyncio.wait_for(self.sink.done.wait(), timeout=max(120.0, n / 20))
            cpu = cpu_seconds() - cpu
        finally:
            if profiler is not None:
                profiler.disable()
            stop.set()
            await relaying
        return Rate(n / ((self.sink.last_ns - start) / 1e9), cpu * 1e6 / n), write_seconds


# ----------------------------------------------------------------------------------------------- producer


def producer_process(
    database_url: str, rate: float, seconds: float, pre_ping: bool, lean: bool, pipe: Connection
) -> None:
    """Entry point of the producer process (an API process, in real life)."""
    try:
        # An API process runs under uvicorn, which picks uvloop when it is installed (uvicorn[standard]).
        with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
            pipe.send(runner.run(_produce(database_url, rate, seconds, pre_ping, lean, pipe)))
    except BaseException as error:
        pipe.send({"error": repr(error)})
        raise
    finally:
        pipe.close()


LEAN_OUTBOX_INSERT = "INSERT INTO bench.outbox (event_id, routing_key, body, headers) VALUES ($1, $2, $3::jsonb, '{}')"
"""The row a unit of work writes for one event, for the lean producer's bare asyncpg connections."""


async def _produce(
    database_url: str, rate: float, seconds: float, pre_ping: bool, lean: bool, pipe: Connection
) -> dict[str, Any]:
    settings = ServiceSettings(service_name=SERVICE, db_schema=SERVICE, database_url=database_url, log_json=False)
    engine = service_engine(settings, pool_size=PRODUCER_POOL_SIZE, pre_ping=pre_ping)  # an API's pool
    session_factory = create_session_factory(engine)
    # The what-if: the same rows through asyncpg's own pool, without SQLAlchemy and the unit of work.
    bare = (
        await asyncpg.create_pool(asyncpg_dsn(database_url), min_size=8, max_size=PRODUCER_POOL_SIZE * 2)
        if lean
        else None
    )

    async def commit_in_unit_of_work(seq: int) -> int:
        async with UnitOfWork(session_factory, SERVICE) as uow:
            await uow.session.connection()  # pool checkout and BEGIN: the app's work, not the commit
            sent = time.perf_counter_ns()
            data = {"phase": "latency", "seq": seq, "sent_ns": sent}
            uow.record(new_event(ROUTING_KEY, data, source=SERVICE))
            await uow.commit()
        return sent

    async def commit_bare(seq: int) -> int:
        assert bare is not None
        async with bare.acquire() as conn, conn.transaction():
            sent = time.perf_counter_ns()
            event = new_event(ROUTING_KEY, {"phase": "latency", "seq": seq, "sent_ns": sent}, source=SERVICE)
            await conn.execute(LEAN_OUTBOX_INSERT, event.id, event.routing_key, event.model_dump_json())
        return sent

    commit = commit_bare if lean else commit_in_unit_of_work
    try:
        # Open the pool before the clock starts.
        async def ping() -> None:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await asyncio.gather(*(ping() for _ in range(8)))
        n = round(rate * seconds)
        interval_ns = 1e9 / rate
        commit_ns: list[int] = []
        lag_ns: list[int] = []
        failures: list[str] = []
        last_commit = 0
        # As many writes in flight as the pool has connections: when the database cannot keep up, the
        # producer falls behind its schedule (and says so) instead of piling up requests that time out.
        in_flight = asyncio.Semaphore(PRODUCER_POOL_SIZE * 2)

        async def write_one(seq: int, due: int) -> None:
            nonlocal last_commit
            try:
                lag_ns.append(time.perf_counter_ns() - due)
                sent = await commit(seq)
                now = time.perf_counter_ns()
                commit_ns.append(now - sent)
                last_commit = max(last_commit, now)
            except Exception as error:
                failures.append(repr(error))
            finally:
                in_flight.release()

        pipe.send({"ready": True})
        cpu = cpu_seconds()
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter_ns() + 50_000_000
        for seq in range(n):
            due = start + round(seq * interval_ns)  # paced by the clock: no drift from late wake-ups
            delay = due - time.perf_counter_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            await in_flight.acquire()
            task = asyncio.create_task(write_one(seq, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.gather(*tasks)
        cpu = cpu_seconds() - cpu
        commit_ns.sort()
        lag_ns.sort()
        return {
            "n": n,
            "written": len(commit_ns),
            "failures": failures[:3],
            "rate": len(commit_ns) / ((last_commit - start) / 1e9) if commit_ns else 0.0,
            "commit_p50_ms": percentile(commit_ns, 50) / 1e6,
            "commit_p99_ms": percentile(commit_ns, 99) / 1e6,
            "lag_max_ms": lag_ns[-1] / 1e6,
            "producer_cpu_us": cpu * 1e6 / max(1, len(commit_ns)),
        }
    finally:
        await engine.dispose()
        if bare is not None:
            await bare.close()


async def _loop_lag(lags_ns: list[int], tick: float = 0.01) -> None:
    """How late this event loop wakes a 10 ms sleeper: every coroutine here (relay, consumer) waits as long."""
    while True:
        start = time.perf_counter_ns()
        await asyncio.sleep(tick)
        lags_ns.append(time.perf_counter_ns() - start - round(tick * 1e9))


async def latency_phase(pipeline: Pipeline, rate: float, seconds: float, *, lean: bool) -> dict[str, Any]:
    n = round(rate * seconds)
    pipeline.sink.start("latency", n)
    stop = asyncio.Event()
    lags_ns: list[int] = []
    monitor = asyncio.create_task(_loop_lag(lags_ns))
    relaying = asyncio.create_task(pipeline.relay().run(stop))
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe(duplex=False)
    process = context.Process(
        target=producer_process,
        args=(pipeline.settings.database_url, rate, seconds, pipeline.pre_ping, lean, theirs),
        daemon=True,
    )
    try:
        process.start()
        theirs.close()
        while True:  # a "ready" message first, then the summary
            if not await asyncio.to_thread(ours.poll, seconds + 60):
                raise TimeoutError("the producer process went silent")
            message = await asyncio.to_thread(ours.recv)
            if "error" in message:
                raise RuntimeError(f"producer failed: {message['error']}")
            if "ready" not in message:
                break
            # From here to the last effect: the producer's start-up (imports) is not the pipeline's.
            cpu, started, machine, servers = cpu_seconds(), time.perf_counter(), machine_cpu_ticks(), server_cpu_ticks()
        produced = message
        pipeline.sink.expect(produced["written"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pipeline.sink.done.wait(), timeout=30)
        worker_cpu_s, elapsed = cpu_seconds() - cpu, time.perf_counter() - started
        machine_busy, server_cpu_s = machine_busy_since(machine), server_cpu_since(servers)
    finally:
        stop.set()
        await relaying
        monitor.cancel()
        if process.is_alive():
            process.terminate()
        await asyncio.to_thread(process.join, 10)
    written = max(1, produced["written"])
    latencies = sorted(v / 1e6 for v in pipeline.sink.latencies_ns)
    lags = sorted(v / 1e6 for v in lags_ns)
    return {
        **produced,
        "worker_cpu": worker_cpu_s / elapsed,
        "worker_cpu_us": worker_cpu_s * 1e6 / written,
        "server_cpu_us": {server: seconds * 1e6 / written for server, seconds in server_cpu_s.items()},
        "machine_busy": machine_busy,
        "loop_lag_p50_ms": percentile(lags, 50),
        "loop_lag_p99_ms": percentile(lags, 99),
        "handled": len(pipeline.sink.handled),
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "p99_ms": percentile(latencies, 99),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


# -------------------------------------------------------------------------------------------------- main


async def create_schema(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SERVICE}"'))
        await conn.run_sync(kit_tables(SERVICE).metadata.create_all)
        await conn.run_sync(business.create_all)
        for statement in notify_trigger_statements(SERVICE):
            await conn.execute(text(statement))


def service_engine(settings: ServiceSettings, *, pool_size: int, pre_ping: bool) -> AsyncEngine:
    """The engine the services build; ``pre_ping=True`` is the what-if of SQLAlchemy's ``pool_pre_ping``
    instead of the kit's look at the connection (three more round trips per unit of work)."""
    if not pre_ping:
        return create_engine(settings, pool_size=pool_size)
    return create_async_engine(
        settings.database_url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={
            "server_settings": {"search_path": f'"{settings.db_schema}", public', "application_name": SERVICE}
        },
    )


async def bench(args: argparse.Namespace, settings: ServiceSettings) -> dict[str, Any]:
    results: dict[str, Any] = {}
    engine = service_engine(settings, pool_size=args.pool_size, pre_ping=args.pre_ping)
    try:
        await create_schema(engine)
        raw = RawBaseline(settings.amqp_url, prefetch=args.prefetch, window=args.raw_window, body=sample_body())
        await raw.run(min(500, args.events))  # warm-up
        results["raw_before"] = await raw.run(args.events)
        print(f"  raw (1st)   {results['raw_before'].per_second:8,.0f} ev/s", flush=True)

        sink = Sink()
        session_factory = create_session_factory(engine)
        poll_interval = _default("outbox_poll_interval")
        pipeline = Pipeline(settings, engine, session_factory, sink, args.batch_size, poll_interval, args.pre_ping)
        stop_consumer = asyncio.Event()
        runner = ConsumerRunner(
            service_name=SERVICE,
            schema=SERVICE,
            amqp_url=settings.amqp_url,
            session_factory=session_factory,
            subscriptions=[Subscription(QUEUE, (ROUTING_KEY,), make_handler(sink))],
            prefetch=args.prefetch,
            retry_delays=_default("consumer_retry_delays"),
            delivery_limit=_default("queue_delivery_limit"),
            lanes=args.lanes,
        )
        consuming = asyncio.create_task(runner.run(stop_consumer))
        try:
            await asyncio.wait_for(runner.ready.wait(), timeout=30)
            writes = {"writers": args.writers, "per_uow": args.write_batch}
            await pipeline.drain("warmup", min(300, args.events), **writes)
            profiler = cProfile.Profile() if args.profile else None
            results["pipeline"], write_seconds = await pipeline.drain(
                "throughput", args.events, profiler=profiler, **writes
            )
            if profiler is not None:
                profiler.dump_stats(args.profile)
            results["write_rate"] = args.events / write_seconds
            print(
                f"  pipeline    {results['pipeline'].per_second:8,.0f} ev/s   "
                f"(outbox written before it at {results['write_rate']:,.0f} ev/s)",
                flush=True,
            )
            results["raw_after"] = await raw.run(args.events)
            print(f"  raw (2nd)   {results['raw_after'].per_second:8,.0f} ev/s", flush=True)
            print(f"  latency at {args.rate:g} ev/s for {args.seconds:g} s ...", flush=True)
            results["latency"] = await latency_phase(pipeline, args.rate, args.seconds, lean=args.lean_producer)
            await asyncio.sleep(0.5)  # let the last acks go out before the consumer's connection closes
        finally:
            stop_consumer.set()
            await asyncio.wait_for(consuming, timeout=30)
        async with engine.connect() as conn:
            rows: dict[str, int] = dict(
                (await conn.execute(select(effects.c.phase, func.count()).group_by(effects.c.phase))).all()
            )
            inbox = kit_tables(SERVICE).inbox
            duplicates = (
                await conn.execute(select(func.count() - func.count(inbox.c.event_id.distinct())))
            ).scalar_one()
        results["effects"], results["duplicates"] = rows, duplicates
    finally:
        await engine.dispose()
    return results


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    before, after, pipeline = results["raw_before"], results["raw_after"], results["pipeline"]
    raw = Rate((before.per_second + after.per_second) / 2, (before.cpu_us + after.cpu_us) / 2)
    ratio = pipeline.per_second / raw.per_second
    lat = results["latency"]

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "MISS"

    p99_ok = lat["p99_ms"] < GOAL_P99_MS
    rows = [
        ("raw aio-pika publish+consume", f"{raw.per_second:,.0f} ev/s", "", "", "mean of the 2 raw runs"),
        ("pipeline outbox->inbox", f"{pipeline.per_second:,.0f} ev/s", "", "", "relay start -> last effect"),
        ("pipeline / raw", f"{ratio:.2f}", f">= {GOAL_RATIO}", verdict(ratio >= GOAL_RATIO), ""),
        ("latency p50", f"{lat['p50_ms']:.1f} ms", "", "", "commit -> effect committed"),
        ("latency p95", f"{lat['p95_ms']:.1f} ms", "", "", ""),
        ("latency p99", f"{lat['p99_ms']:.1f} ms", f"< {GOAL_P99_MS:g} ms", verdict(p99_ok), ""),
        ("latency max", f"{lat['max_ms']:.1f} ms", "", "", ""),
        ("achieved producer rate", f"{lat['rate']:,.0f} ev/s", f"{args.rate:g}", "", f"{lat['n']} events"),
    ]
    print()
    print(f"{'':30}{'measured':>13}  {'goal':<10}{'':6}note")
    for name, value, goal, ok, note in rows:
        print(f"{name:30}{value:>13}  {goal:<10}{ok:6}{note}")
    print()
    print(
        f"raw runs {before.per_second:,.0f} / {after.per_second:,.0f} ev/s. CPU of this process per event: "
        f"raw {raw.cpu_us:,.0f} us, pipeline (relay + consumer) {pipeline.cpu_us:,.0f} us."
    )
    print(
        f"outbox written before the drain (excluded from its time) at {results['write_rate']:,.0f} ev/s: "
        f"{args.writers} writers, {args.write_batch} event(s) per unit of work."
    )
    print(
        f"latency run: {lat['written']}/{lat['n']} written, {lat['handled']} handled"
        f"{'; producer failures ' + str(lat['failures']) if lat['failures'] else ''}; producer commit p50/p99 "
        f"{lat['commit_p50_ms']:.1f}/{lat['commit_p99_ms']:.1f} ms, worst schedule lag {lat['lag_max_ms']:.1f} ms."
    )
    print(
        f"worker (this process) during the latency run: {lat['worker_cpu']:.0%} of a core, event-loop lag "
        f"p50/p99 {lat['loop_lag_p50_ms']:.1f}/{lat['loop_lag_p99_ms']:.1f} ms; the whole machine "
        f"(producer, PostgreSQL, RabbitMQ and all) {lat['machine_busy']:.0%} busy on {os.cpu_count()} cores."
    )
    servers = ", ".join(f"{name} {us:,.0f}" for name, us in lat["server_cpu_us"].items())
    print(
        f"CPU per event in the latency run, in us: producer {lat['producer_cpu_us']:,.0f} "
        f"({'bare asyncpg' if args.lean_producer else 'its unit of work'}), "
        f"worker {lat['worker_cpu_us']:,.0f} (relay + consumer), {servers}."
    )
    print(f"effects per phase {results['effects']}; duplicate inbox rows {results['duplicates']}.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--events", type=int, default=5000, help="events per throughput run (5000)")
    add("--rate", type=float, default=500.0, help="producer rate of the latency run (500/s)")
    add("--seconds", type=float, default=10.0, help="length of the latency run (10 s)")
    add("--prefetch", type=int, default=_default("consumer_prefetch"), help="consumer prefetch (settings)")
    add("--batch-size", type=int, default=_default("outbox_batch_size"), help="relay batch (settings)")
    add("--pool-size", type=int, default=WORKER_POOL_SIZE, help="worker pool, + as much overflow (5)")
    add("--writers", type=int, default=8, help="concurrent outbox writers before the drain (8)")
    add("--write-batch", type=int, default=1, help="events per unit of work before the drain (1)")
    add("--raw-window", type=int, default=256, help="raw publisher: confirms in flight (256)")
    add("--profile", metavar="FILE", help="write a cProfile of the pipeline throughput phase to FILE (slows it)")
    what_if = parser.add_argument_group("what-ifs (not how the services run today)")
    what_if.add_argument("--lanes", type=int, default=LANES, help=f"consumer lanes per queue ({LANES})")
    what_if.add_argument(
        "--pre-ping", action="store_true", help="worker and producer engines with SQLAlchemy's pool_pre_ping"
    )
    what_if.add_argument(
        "--lean-producer",
        action="store_true",
        help="the latency run's producer writes the same outbox rows through bare asyncpg, without the unit of work",
    )
    what_if.add_argument("--no-uvloop", action="store_true", help="run this (worker) process on asyncio's own loop")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    database = os.environ.get("GOROD_BENCH_DATABASE", "gorod_bench")
    vhost = os.environ.get("GOROD_BENCH_VHOST", "gorod_bench")
    amqp_url = os.environ.get("GOROD_BENCH_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672/") + vhost
    dbs = provision.service_databases(admin_url, database, [SERVICE], role_prefix=f"{database}_")
    settings = ServiceSettings(
        service_name=SERVICE, db_schema=SERVICE, database_url=dbs[0].url, amqp_url=amqp_url, log_json=False
    )
    what_ifs = [
        name
        for name, on in (
            ("pool_pre_ping", args.pre_ping),
            ("no uvloop", args.no_uvloop),
            ("lean producer", args.lean_producer),
        )
        if on
    ]
    print(
        f"events benchmark: N={args.events}, prefetch={args.prefetch}, relay batch={args.batch_size}, "
        f"worker pool {args.pool_size}+{args.pool_size}, latency at {args.rate:g}/s for {args.seconds:g} s"
        f"{'; what-ifs: ' + ', '.join(what_ifs) if what_ifs else ''}; database {database}, vhost {vhost}",
        flush=True,
    )
    started = time.perf_counter()
    # A run killed half-way leaves its stack behind: start from nothing, and always clean up.
    asyncio.run(provision.drop_database(admin_url, database, dbs))
    provision.delete_vhost(vhost)
    try:
        asyncio.run(provision.create_database(admin_url, database, dbs))
        provision.ensure_vhost(vhost)
        with asyncio.Runner(loop_factory=None if args.no_uvloop else event_loop_factory()) as runner:
            results = runner.run(bench(args, settings))
    finally:
        asyncio.run(provision.drop_database(admin_url, database, dbs))
        provision.delete_vhost(vhost)
    report(args, results)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
