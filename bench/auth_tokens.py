"""Auth tokens benchmark: issuing and verifying access tokens, each beside PyJWT alone in the same run.

    cd /work/main && .venv/bin/python bench/auth_tokens.py [--seconds 3] [--concurrency 8] [--server asgi]

It provisions its own throwaway database ``gorod_bench_auth`` (role ``gorod_bench_auth_auth``, the auth
service's migrations; no RabbitMQ vhost: nothing here publishes or probes the broker), registers a partner
client, and drops the database and role at the end (also on failure or Ctrl-C), so it runs beside ``make up``
and ``make test``. See bench/README.md.

Phases, in order, each time-boxed (``--seconds``) after a short warm-up:

1. sign (1st): PyJWT ``jwt.encode`` of the claims of a real issued token, with the service's RSA key.
2. issuance: ``POST /oauth2/token`` with ``grant_type=client_credentials`` (HTTP Basic client secret) to the
   real auth app (in-process over ASGI by default, or with ``--server uvicorn`` a real uvicorn process on
   loopback, started as the Procfile starts it): one request at a time, then ``--concurrency`` at once.
   Each answer must be 200 with an access token. CPU per token counts this process and the server's.
3. sign (2nd): the baseline is the mean of the two sign runs, which bracket the issuance runs.
4. decode (1st): PyJWT ``jwt.decode`` of an issued token with the same public key and the same checks
   (algorithm, issuer, audience, required claims, leeway) as the verifier.
5. verify: ``servicekit.security.TokenVerifier.verify``, the way every service checks a bearer token, with
   its JWKS cache warm (fetched once from the app's real ``/.well-known/jwks.json`` before timing).
6. decode (2nd): the baseline is the mean of the two decode runs.

Nothing here is an assertion: the exit code is 0 whatever the ratios are.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import logging
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import jwt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from auth.domain.clients import PARTNER, ClientDraft, check_client
from auth.domain.tokens import access_token_claims
from auth.main import create_app
from auth.settings import AuthSettings
from auth.usecases.clients import ensure_client
from auth.usecases.keys import KeyRing
from servicekit import provision
from servicekit.db import create_engine, create_session_factory
from servicekit.security import TokenVerifier
from servicekit.uow import UnitOfWork

ROOT = Path(__file__).resolve().parents[1]
BASE_URL = "http://127.0.0.1:8000"
CLIENT_ID = "bench-partner"
CLIENT_SECRET = "bench-partner-secret"  # noqa: S105 - a throwaway client in a throwaway database
SCOPE = "open311 problems:read"
AUDIENCES = ("gateway", "problems")
LEEWAY = 30.0
"""The verifier's default clock skew, used by the PyJWT baseline too."""
GOAL_VERIFY_RATIO = 0.8
"""A service's verification does little beyond ``jwt.decode`` (header checks, a key lookup): it should keep
at least 80 % of its rate."""


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Rate:
    per_second: float
    cpu_us: float
    """CPU of this process per operation, in microseconds (server and client share the process)."""
    n: int

    @staticmethod
    def mean(a: Rate, b: Rate) -> Rate:
        return Rate((a.per_second + b.per_second) / 2, (a.cpu_us + b.cpu_us) / 2, a.n + b.n)


class EndpointUnavailable(Exception):
    """The token endpoint is not there (404/405): the auth service does not serve it yet."""


def run_sync(operation: Callable[[], object], seconds: float, *, warmup: int = 20) -> Rate:
    for _ in range(warmup):
        operation()
    n = 0
    cpu, started = cpu_seconds(), time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            operation()
        n += 20
    elapsed, used = time.perf_counter() - started, cpu_seconds() - cpu
    return Rate(n / elapsed, used / n * 1e6, n)


async def run_async(
    operation: Callable[[], Awaitable[object]],
    seconds: float,
    *,
    concurrency: int = 1,
    warmup: int = 20,
    cpu: Callable[[], float] = cpu_seconds,
) -> Rate:
    for _ in range(warmup):
        await operation()
    n = 0
    cpu_before, started = cpu(), time.perf_counter()
    deadline = started + seconds

    async def worker() -> None:
        nonlocal n
        while time.perf_counter() < deadline:
            await operation()
            n += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, used = time.perf_counter() - started, cpu() - cpu_before
    return Rate(n / elapsed, used / n * 1e6, n)


# ------------------------------------------------------------------------------------------- the app


@dataclass
class Target:
    """The auth service under test, and what the bench needs beside its HTTP API."""

    client: httpx.AsyncClient
    session_factory: async_sessionmaker[AsyncSession]
    keys: KeyRing
    cpu: Callable[[], float]
    """CPU seconds used so far by this process and, with ``--server uvicorn``, the server process."""


@contextlib.asynccontextmanager
async def serve(how: str, settings: AuthSettings) -> AsyncIterator[Target]:
    """The auth app, in-process over ASGI, or as ``make up`` runs it: uvicorn in its own process on loopback."""
    if how == "asgi":
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=30) as client:
                yield Target(client, app.state.kit.session_factory, app.state.keys, cpu_seconds)
        return
    port = _free_port()
    env = {
        **os.environ,
        "AUTH_DATABASE_URL": settings.database_url,
        "AUTH_LOG_LEVEL": "WARNING",
        "AUTH_LOG_JSON": "false",
    }
    command = [sys.executable, "-m", "uvicorn", "auth.main:create_app", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    with tempfile.TemporaryFile() as log:
        server = await asyncio.create_subprocess_exec(*command, env=env, stdout=log, stderr=subprocess.STDOUT)
        engine = create_engine(settings, pool_size=2)
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30, limits=limits) as client:
                await _wait_until_live(client, server, log)
                session_factory = create_session_factory(engine)
                keys = KeyRing(
                    session_factory,
                    rotation_days=settings.signing_key_rotation_days,
                    longest_token_ttl=settings.access_token_ttl,
                )
                yield Target(client, session_factory, keys, lambda: cpu_seconds() + _process_cpu(server.pid))
        finally:
            if server.returncode is None:
                server.terminate()
                try:
                    await asyncio.wait_for(server.wait(), timeout=10)
                except TimeoutError:
                    server.kill()
                    await server.wait()
            await engine.dispose()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_until_live(client: httpx.AsyncClient, server: asyncio.subprocess.Process, log: Any) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.returncode is not None:
            log.seek(0)
            raise RuntimeError(f"uvicorn exited with {server.returncode}:\n{log.read().decode()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/health/live")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("uvicorn did not come up within 60 s")


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def register_client(target: Target, settings: AuthSettings) -> None:
    spec = check_client(
        ClientDraft(kind=PARTNER, name="Bench partner", scopes=SCOPE.split(), audiences=AUDIENCES),
        known_audiences=settings.default_audiences,
    )
    async with UnitOfWork(target.session_factory, settings.db_schema) as uow:
        await ensure_client(uow.session, CLIENT_ID, spec, secret=CLIENT_SECRET)
        await uow.commit()


def token_request(client: httpx.AsyncClient) -> Callable[[], Awaitable[str]]:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
    body = f"grant_type=client_credentials&scope={SCOPE.replace(' ', '+')}".encode()

    async def issue() -> str:
        response = await client.post("/oauth2/token", content=body, headers=headers)
        if response.status_code in (404, 405):
            raise EndpointUnavailable(f"HTTP {response.status_code}")
        if response.status_code != 200:
            raise RuntimeError(f"token endpoint answered {response.status_code}: {response.text[:300]}")
        token: str = response.json()["access_token"]
        return token

    return issue


# ------------------------------------------------------------------------------------------- phases


async def bench(args: argparse.Namespace, settings: AuthSettings) -> dict[str, Any]:
    results: dict[str, Any] = {}
    async with serve(args.server, settings) as target:
        client = target.client
        await register_client(target, settings)
        issue = token_request(client)
        try:
            token = await issue()
        except EndpointUnavailable as error:
            print(f"token endpoint not available ({error}): issuance is not measured", flush=True)
            results["issuance"] = None
            token = (await target.keys.signing_key()).sign(_fallback_claims(settings), typ="at+jwt")
        key = await target.keys.signing_key()  # the key that signed the token (the same database's active key)
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
        audience = claims["aud"][0] if isinstance(claims["aud"], list) else claims["aud"]

        def sign() -> str:
            return jwt.encode(claims, key.private_key, algorithm=header["alg"], headers=header)

        print(f"sign (1st): PyJWT jwt.encode, {args.seconds:g} s", flush=True)
        sign_before = run_sync(sign, args.seconds)
        if "issuance" not in results:
            print("issuance: POST /oauth2/token client_credentials, one at a time", flush=True)
            single = await run_async(issue, args.seconds, cpu=target.cpu)
            print(f"issuance: {args.concurrency} at a time", flush=True)
            concurrent = await run_async(issue, args.seconds, concurrency=args.concurrency, cpu=target.cpu)
            results["issuance"] = (single, concurrent)
        print("sign (2nd)", flush=True)
        sign_after = run_sync(sign, args.seconds)
        results["sign"] = (sign_before, sign_after)

        verifier = TokenVerifier(
            jwks_url=f"{str(client.base_url).rstrip('/')}/.well-known/jwks.json",
            issuer=settings.jwt_issuer,
            audience=audience,
            leeway=LEEWAY,
            http_client=client,
        )
        principal = await verifier.verify(token)  # fetches the JWKS: the cache is warm from here on
        jwks = (await client.get("/.well-known/jwks.json")).json()
        public = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]), algorithm=header["alg"])

        def decode() -> object:
            return jwt.decode(
                token,
                public,
                algorithms=[header["alg"]],
                audience=audience,
                issuer=settings.jwt_issuer,
                leeway=LEEWAY,
                options={"require": ["iss", "aud", "exp", "iat", "sub"], "enforce_minimum_key_length": True},
            )

        print(f"decode (1st): PyJWT jwt.decode, audience {audience!r}", flush=True)
        decode_before = run_sync(decode, args.seconds)
        print("verify: TokenVerifier.verify, warm JWKS cache", flush=True)
        verify = await run_async(lambda: verifier.verify(token), args.seconds)
        print("decode (2nd)", flush=True)
        decode_after = run_sync(decode, args.seconds)
        results["decode"] = (decode_before, decode_after)
        results["verify"] = verify
        results["token"] = {"bytes": len(token), "alg": header["alg"], "subject": principal.subject, "aud": audience}
    return results


def _fallback_claims(settings: AuthSettings) -> dict[str, object]:
    return access_token_claims(
        issuer=settings.jwt_issuer,
        subject=CLIENT_ID,
        client_id=CLIENT_ID,
        audience=AUDIENCES,
        scope=SCOPE,
        roles=(),
        issued_at=datetime.now(UTC),
        ttl=settings.access_token_ttl,
    )


def report(args: argparse.Namespace, results: dict[str, Any]) -> None:
    sign = Rate.mean(*results["sign"])
    decode = Rate.mean(*results["decode"])
    verify: Rate = results["verify"]
    rows: list[tuple[str, str, str, str, str]] = []
    if results["issuance"] is None:
        rows.append(("token issuance", "n/a", f"{sign.per_second:,.0f}/s", "", "token endpoint not available"))
    else:
        single, concurrent = results["issuance"]
        for label, rate in (("issuance, 1 at a time", single), (f"issuance, {args.concurrency} at a time", concurrent)):
            rows.append(
                (
                    label,
                    f"{rate.per_second:,.0f} tok/s",
                    f"{sign.per_second:,.0f} sig/s",
                    f"{rate.per_second / sign.per_second:.3f}",
                    f"{rate.cpu_us:,.0f} us CPU/token vs {sign.cpu_us:,.0f} us/sig",
                )
            )
    ratio = verify.per_second / decode.per_second
    verdict = "PASS" if ratio >= GOAL_VERIFY_RATIO else "MISS"
    rows.append(
        (
            "local verification",
            f"{verify.per_second:,.0f} tok/s",
            f"{decode.per_second:,.0f} dec/s",
            f"{ratio:.3f}",
            f"goal >= {GOAL_VERIFY_RATIO} {verdict}; {verify.cpu_us:,.0f} vs {decode.cpu_us:,.0f} us CPU",
        )
    )
    print()
    print(f"{'':28}{'measured':>15}  {'PyJWT alone':>15}  {'ratio':>6}  note")
    for name, value, base, r, note in rows:
        print(f"{name:28}{value:>15}  {base:>15}  {r:>6}  {note}")
    print()
    before, after = results["sign"]
    print(f"sign runs {before.per_second:,.0f} / {after.per_second:,.0f} sig/s (baseline = their mean).")
    before, after = results["decode"]
    print(f"decode runs {before.per_second:,.0f} / {after.per_second:,.0f} dec/s (baseline = their mean).")
    token = results["token"]
    print(f"token: {token['alg']}, {token['bytes']} bytes, sub {token['subject']}, verified for aud {token['aud']}.")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="length of each timed run (3 s)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight in the 2nd issuance run (8)")
    parser.add_argument(
        "--server",
        choices=("asgi", "uvicorn"),
        default="asgi",
        help="asgi: the app in-process over httpx.ASGITransport (default); uvicorn: `uvicorn auth.main:create_app"
        " --factory` in its own process on loopback, as the Procfile runs it",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    database = os.environ.get("GOROD_BENCH_AUTH_DATABASE", "gorod_bench_auth")
    dbs = provision.service_databases(admin_url, database, ["auth"], role_prefix=f"{database}_")
    settings = AuthSettings(database_url=dbs[0].url, log_json=False, log_level="WARNING")
    print(
        f"auth tokens benchmark: {args.seconds:g} s per run, issuance concurrency {args.concurrency}, "
        f"server {args.server}; database {database}",
        flush=True,
    )
    started = time.perf_counter()
    # A run killed half-way leaves its database behind: start from nothing, and always clean up.
    asyncio.run(provision.drop_database(admin_url, database, dbs))
    try:
        asyncio.run(provision.provision(ROOT, admin_url=admin_url, database=database, dbs=dbs, vhost=None))
        results = asyncio.run(bench(args, settings))
    finally:
        asyncio.run(provision.drop_database(admin_url, database, dbs))
    report(args, results)
    print(f"total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
