"""Pytest plugin (``-p servicekit.testing.plugin``): a whole Gorod stack of its own for the test session.

It provisions database ``gorod_test`` with one role per service (``gorod_test_<service>``) and RabbitMQ
vhost ``gorod_test``, migrates every service, and points every service's settings there through the
environment, so tests pass while ``make up`` runs on the same machine. At the end it drops all of it.
Override with GOROD_ADMIN_DATABASE_URL, GOROD_TEST_DATABASE, GOROD_TEST_VHOST, GOROD_TEST_AMQP_BASE.
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


@dataclass(frozen=True)
class TestStack:
    root: Path
    admin_url: str
    database: str
    vhost: str
    amqp_url: str
    databases: dict[str, provision.ServiceDatabase]
    """By service name; ``kittest`` is a scratch role and schema for the kit's own tests."""


def _run(coro: Any) -> Any:
    """Run a coroutine on a private loop, away from pytest-asyncio's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def gorod_stack(request: pytest.FixtureRequest) -> Iterator[TestStack]:
    root = Path(request.config.rootpath)
    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    database = os.environ.get("GOROD_TEST_DATABASE", "gorod_test")
    vhost = os.environ.get("GOROD_TEST_VHOST", "gorod_test")
    amqp_url = os.environ.get("GOROD_TEST_AMQP_BASE", "amqp://guest:guest@127.0.0.1:5672/") + vhost
    services = [*provision.discover_services(root), "kittest"]
    dbs = provision.service_databases(admin_url, database, services, role_prefix=f"{database}_")
    # A run killed half-way leaves its stack behind: start from nothing.
    _run(provision.drop_database(admin_url, database, dbs))
    provision.delete_vhost(vhost)
    _run(provision.provision(root, admin_url=admin_url, database=database, dbs=dbs, vhost=vhost))
    saved = dict(os.environ)
    for db in dbs:
        os.environ[f"{db.service.upper()}_DATABASE_URL"] = db.url
        os.environ[f"{db.service.upper()}_AMQP_URL"] = amqp_url
        os.environ[f"{db.service.upper()}_LOG_JSON"] = "false"
    try:
        yield TestStack(root, admin_url, database, vhost, amqp_url, {db.service: db for db in dbs})
    finally:
        os.environ.clear()
        os.environ.update(saved)
        _run(provision.drop_database(admin_url, database, dbs))
        provision.delete_vhost(vhost)
