"""Pytest plugin (``-p servicekit.testing.plugin``): a whole Gorod stack of its own for the test session.

It provisions database ``gorod_test_<pid>`` with one role per service (``gorod_test_<pid>_<service>``) and
a RabbitMQ vhost of the same name, migrates every service, and points every service's settings there
through the environment, so tests pass while ``make up`` (or another test run) uses the same machine. At
the end it drops all of it; a run that was killed is swept away by the next one.
Override with GOROD_ADMIN_DATABASE_URL and GOROD_TEST_AMQP_BASE.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from servicekit import provision
from servicekit.testing.tokens import JwksServer, SigningKey, TokenMinter


@dataclass(frozen=True)
class TestStack:
    __test__ = False  # not a test class, whatever its name says

    root: Path
    admin_url: str
    database: str
    vhost: str
    amqp_url: str
    databases: dict[str, provision.ServiceDatabase]
    """By service name; ``kittest`` is a scratch role and schema for the kit's own tests."""
    tokens: TokenMinter
    """Mints access tokens that every service but auth accepts (auth signs with its own keys)."""


TEST_PREFIX = "gorod_test_"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _sweep_abandoned_stacks(admin_url: str) -> None:
    """Drop the databases, roles and vhosts of test runs whose process is gone (killed half-way)."""
    conn = await provision.admin_connect(admin_url)
    try:
        names = [
            row[0] for row in await conn.fetch("SELECT datname FROM pg_database WHERE datname LIKE 'gorod_test_%'")
        ]
        roles = [row[0] for row in await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE 'gorod_test_%'")]
    finally:
        await conn.close()
    vhosts = [v for v in await asyncio.to_thread(provision.list_vhosts) if v.startswith(TEST_PREFIX)]
    for name in {*names, *vhosts, *(role.rsplit("_", 1)[0] for role in roles)}:
        pid = name.removeprefix(TEST_PREFIX)
        if not pid.isdigit() or _pid_alive(int(pid)):
            continue
        dead_roles = [role for role in roles if role.startswith(f"{name}_")]
        await provision.drop_database(admin_url, name, [], roles=dead_roles)
        if name in vhosts:
            await asyncio.to_thread(provision.delete_vhost, name)


def _run(coro: Any) -> Any:
    """Run a coroutine on a private loop, away from pytest-asyncio's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def gorod_stack(request: pytest.FixtureRequest) -> Iterator[TestStack]:
    root = Path(request.config.rootpath)
    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    database = vhost = f"{TEST_PREFIX}{os.getpid()}"
    amqp_url = os.environ.get("GOROD_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672/") + vhost
    services = [*provision.discover_services(root), "kittest"]
    dbs = provision.service_databases(admin_url, database, services, role_prefix=f"{database}_")
    _run(_sweep_abandoned_stacks(admin_url))
    _run(provision.provision(root, admin_url=admin_url, database=database, dbs=dbs, vhost=vhost))
    jwks = JwksServer()
    tokens = TokenMinter(jwks, SigningKey.generate_rsa("test-session"))
    jwks.publish(tokens.key.jwk())
    jwks.start()
    saved = dict(os.environ)
    for db in dbs:
        os.environ[f"{db.service.upper()}_DATABASE_URL"] = db.url
        os.environ[f"{db.service.upper()}_AMQP_URL"] = amqp_url
        os.environ[f"{db.service.upper()}_LOG_JSON"] = "false"
    for service in {db.service for db in dbs} - {"auth"} | {"gateway"}:
        os.environ[f"{service.upper()}_JWKS_URL"] = tokens.jwks_url
        os.environ[f"{service.upper()}_JWT_ISSUER"] = tokens.issuer
    try:
        yield TestStack(root, admin_url, database, vhost, amqp_url, {db.service: db for db in dbs}, tokens)
    finally:
        jwks.stop()
        os.environ.clear()
        os.environ.update(saved)
        _run(provision.drop_database(admin_url, database, dbs))
        provision.delete_vhost(vhost)
