"""Provisioning of a Gorod database and vhost: what an operator with admin rights does once per stack.

For every service: a login role that owns nothing but the schema its migrations create, with CONNECT and
CREATE on the database (CREATE lets its migration environment create its schema). PostGIS is installed
once in ``public``. The RabbitMQ vhost is created with ``rabbitmqctl``. Then each service's Alembic
migrations run as the service's own role.

Used by ``make up`` (database ``gorod``, roles ``gorod_<service>``) and by the tests (``gorod_test``,
``gorod_test_<service>``), so both stacks live side by side on one machine.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

DEFAULT_ADMIN_URL = "postgresql://gorod_admin:gorod_admin@127.0.0.1:5432/postgres"


class ProvisioningError(RuntimeError):
    """A prerequisite is missing; the message says what to do."""


@dataclass(frozen=True)
class ServiceDatabase:
    service: str
    role: str
    password: str
    database: str
    host: str
    port: int

    @property
    def schema(self) -> str:
        return self.service

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the service logs in with."""
        return f"postgresql+asyncpg://{quote(self.role)}:{quote(self.password)}@{self.host}:{self.port}/{self.database}"


def service_databases(admin_url: str, database: str, services: list[str], *, role_prefix: str) -> list[ServiceDatabase]:
    parts = urlsplit(admin_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    # Local stacks only: the password is the role name. Production sets real secrets in DATABASE_URL.
    return [
        ServiceDatabase(name, f"{role_prefix}{name}", f"{role_prefix}{name}", database, host, port) for name in services
    ]


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"unsafe identifier {name!r}")
    return f'"{name}"'


async def admin_connect(admin_url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(admin_url, timeout=5)
    except (OSError, asyncpg.PostgresError) as error:
        raise ProvisioningError(
            f"cannot reach PostgreSQL as the admin role ({type(error).__name__}: {error}); "
            "run `make up` as root once (it creates role gorod_admin), or set GOROD_ADMIN_DATABASE_URL"
        ) from error


async def create_database(admin_url: str, database: str, dbs: list[ServiceDatabase]) -> None:
    conn = await admin_connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f"CREATE DATABASE {_ident(database)}")
        await conn.execute(f"REVOKE CONNECT ON DATABASE {_ident(database)} FROM PUBLIC")
        for db in dbs:
            exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", db.role)
            verb = "ALTER" if exists else "CREATE"
            # Role names and passwords are ours (checked by _ident); DDL cannot take bind parameters.
            await conn.execute(f"{verb} ROLE {_ident(db.role)} LOGIN PASSWORD '{db.password}'")
            await conn.execute(f"GRANT CONNECT, CREATE ON DATABASE {_ident(database)} TO {_ident(db.role)}")
    finally:
        await conn.close()
    conn = await admin_connect(_with_database(admin_url, database))
    try:
        try:
            await conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        except asyncpg.PostgresError as error:
            raise ProvisioningError(
                f"PostGIS is not installed for this PostgreSQL ({error}); "
                "install it: apt-get install postgresql-<major version>-postgis-3, or run `make up` as root"
            ) from error
    finally:
        await conn.close()


async def drop_database(
    admin_url: str, database: str, dbs: list[ServiceDatabase], *, roles: Sequence[str] = ()
) -> None:
    conn = await admin_connect(admin_url)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {_ident(database)} WITH (FORCE)")
        for role in [*(db.role for db in dbs), *roles]:
            await conn.execute(f"DROP ROLE IF EXISTS {_ident(role)}")
    finally:
        await conn.close()


def _rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("rabbitmqctl")
    if executable is None:
        raise ProvisioningError("rabbitmqctl not found: install RabbitMQ (apt-get install rabbitmq-server)")
    result = subprocess.run(  # noqa: S603 - fixed executable, our own arguments
        [executable, "-q", *args], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        raise ProvisioningError(
            f"rabbitmqctl {' '.join(args)} failed: {result.stderr.strip() or result.stdout.strip()} "
            "(run as root, or create the vhost yourself)"
        )
    return result


def list_vhosts() -> list[str]:
    return _rabbitmqctl("list_vhosts", "name").stdout.split()


def ensure_vhost(vhost: str, user: str = "guest") -> None:
    if vhost not in list_vhosts():
        _rabbitmqctl("add_vhost", vhost)
    _rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


def delete_vhost(vhost: str) -> None:
    if vhost in list_vhosts():
        _rabbitmqctl("delete_vhost", vhost)


def migrate(service_dir: Path, database_url: str) -> None:
    """Run one service's migrations to head, as its own role, in a fresh interpreter.

    A subprocess keeps each service's Alembic environment (and its imports) apart and works from inside a
    running event loop.
    """
    result = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(service_dir / "alembic.ini"),
            "upgrade",
            "head",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=_env_with_url(service_dir.name, database_url),
    )
    if result.returncode != 0:
        raise ProvisioningError(f"migrations of {service_dir.name} failed:\n{result.stderr[-4000:]}")


def _env_with_url(service: str, database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env[f"{service.upper()}_DATABASE_URL"] = database_url
    return env


def discover_services(root: Path) -> list[str]:
    """The services on disk: every ``services/<name>`` with an ``alembic.ini``."""
    return sorted(p.parent.name for p in (root / "services").glob("*/alembic.ini"))


async def provision(
    root: Path, *, admin_url: str, database: str, dbs: list[ServiceDatabase], vhost: str | None
) -> None:
    """Create the database, roles and vhost, then migrate every service in ``dbs`` that has migrations."""
    await create_database(admin_url, database, dbs)
    if vhost:
        await asyncio.to_thread(ensure_vhost, vhost)
    service_dirs = [(root / "services" / db.service, db.url) for db in dbs]
    await asyncio.gather(
        *(asyncio.to_thread(migrate, path, url) for path, url in service_dirs if (path / "alembic.ini").exists())
    )
