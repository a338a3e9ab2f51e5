"""The ways of running Gorod agree with each other and with the code.

The same stack is described in several places: each service's settings (ports, env prefix, fields), the
Procfile (`make up`), docker-compose.yml with deploy/postgres/init.sql, the Dockerfiles, the gateway's
settings, and servicekit.provision (database roles). These tests read them all, with no database or broker,
and fail with a message saying which file to fix when one of them drifts. The services are discovered
from disk (``services/*/pyproject.toml``), so a new service must be added everywhere.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.settings import GatewaySettings
from servicekit import provision
from servicekit.settings import ServiceSettings

from .conftest import local_stack

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"
INFRASTRUCTURE = {"postgres", "rabbitmq"}
GATEWAY_INFRASTRUCTURE = {"redis"}
"""Redis keeps the gateway's rate-limit counters, shared by its worker processes; nothing else uses it."""
MAIL_SINK = local_stack().MAIL_SINK
"""The development SMTP server: every e-mail the stack sends lands in its Maildir (Procfile and compose alike)."""
EXTRA_PROCESSES = {"routing-mail": "python -m routing.mail", MAIL_SINK: None}
"""Processes beyond each service's API and worker, with the command both files must run (None: not compared)."""
EXTRA_SETTINGS = {"routing": ["routing.mail.settings:MailSettings"]}
"""Settings classes a service reads beside its ServiceSettings (their env names are valid in its containers)."""
SMTP_SETTINGS = {"auth": "auth.settings:AuthSettings", "problems": "problems.settings:ProblemsSettings"} | {
    "routing": "routing.mail.settings:MailSettings"
}
"""Where each service that sends e-mail keeps its ``smtp_host`` and ``smtp_port``."""
DATABASE = "gorod"
ROLE_PREFIX = "gorod_"
REQUIRED_ENV = ("DATABASE_URL", "AMQP_URL")


# --- reading the sources -------------------------------------------------------------------------------


def discover_services() -> list[str]:
    """Every ``services/<name>`` with a pyproject.toml."""
    return sorted(path.parent.name for path in (ROOT / "services").glob("*/pyproject.toml"))


SERVICES = discover_services()


def project_name(service: str) -> str:
    pyproject = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    return str(pyproject["project"]["name"])


def settings_class(service: str) -> type[ServiceSettings]:
    """The ``ServiceSettings`` subclass defined in ``<service>.settings``."""
    module = importlib.import_module(f"{service}.settings")
    classes = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, ServiceSettings) and value.__module__ == module.__name__
    ]
    assert len(classes) == 1, f"{service}/settings.py should define exactly one ServiceSettings subclass"
    return classes[0]


def settings_port(service: str) -> int:
    return int(settings_class(service).model_fields["http_port"].default)


def env_names(settings: type[Any]) -> set[str]:
    """The environment variables a settings class reads: its prefix + each field name, upper-cased."""
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{field}".upper() for field in settings.model_fields}


@functools.cache
def procfile() -> dict[str, str]:
    """Process name → command."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, command = line.split(":", 1)
            processes[name.strip()] = command.strip()
    return processes


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, dict[str, Any]]:
    """The ``services`` of a compose file (anchors and ``<<`` merges resolved)."""
    services: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text())["services"]
    return services


@functools.cache
def compose() -> dict[str, dict[str, Any]]:
    return load_compose()


def dockerfile(service: str) -> str:
    path = ROOT / "services" / service / "Dockerfile"
    assert path.exists(), f"services/{service}: add a Dockerfile (like the other services')"
    return path.read_text()


def dockerfile_cmd(text: str) -> str:
    """The last top-level CMD as one string (the exec form's JSON list joined with spaces)."""
    commands = re.findall(r"^CMD\s+(.+)$", text, flags=re.MULTILINE)
    assert commands, "the Dockerfile has no CMD"
    command = commands[-1].strip()
    return " ".join(json.loads(command)) if command.startswith("[") else command


def dockerfile_healthcheck_url(text: str) -> str | None:
    match = re.search(r"^HEALTHCHECK\b.*?(https?://[^'\"\s]+)", text, flags=re.MULTILINE | re.DOTALL)
    return match.group(1) if match else None


def dockerfile_expose(text: str) -> int | None:
    match = re.search(r"^EXPOSE\s+(\d+)", text, flags=re.MULTILINE)
    return int(match.group(1)) if match else None


def port_option(command: str) -> int | None:
    match = re.search(r"--port[ =](\d+)", command)
    return int(match.group(1)) if match else None


def published_ports(service: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) of each ``ports`` entry, short ("8001:8001") or long syntax."""
    pairs = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
        else:
            *_, host, container = str(entry).split(":")
            pairs.append((int(host), int(container.split("/")[0])))
    return pairs


def published_port_places(label: str, service: dict[str, Any]) -> dict[str, int | None]:
    """Where a compose service publishes its port → the port (None when it publishes none)."""
    pairs = published_ports(service)
    if not pairs:
        return {f"{label} ports": None}
    places: dict[str, int | None] = {}
    for host, container in pairs:
        places[f"{label} ports (host)"] = host
        places[f"{label} ports (container)"] = container
    return places


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return " ".join(test[1:]) if isinstance(test, list) else str(test)


def healthcheck_url(service: dict[str, Any]) -> str | None:
    match = re.search(r"https?://[^'\"\s]+", healthcheck_command(service))
    return match.group(0) if match else None


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's environment, from either the mapping or the ``KEY=value`` list form."""
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def depends_on(service: dict[str, Any]) -> dict[str, Any]:
    deps = service.get("depends_on", {})
    return {name: {} for name in deps} if isinstance(deps, list) else deps


def expected_databases() -> dict[str, provision.ServiceDatabase]:
    """What provision.py creates for the local stack, seen from inside the compose network."""
    admin_url = f"postgresql://postgres@postgres:5432/{DATABASE}"
    dbs = provision.service_databases(admin_url, DATABASE, SERVICES, role_prefix=ROLE_PREFIX)
    return {db.service: db for db in dbs}


# --- the same set of processes everywhere ----------------------------------------------------------------


def expected_processes() -> set[str]:
    return (
        {"gateway"} | {name for service in SERVICES for name in (service, f"{service}-worker")} | set(EXTRA_PROCESSES)
    )


def load_class(path: str) -> type[Any]:
    module, _, name = path.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def service_env_names(service: str) -> set[str]:
    """Every environment variable a service's processes read: its ServiceSettings' and its other settings'."""
    names = env_names(settings_class(service))
    for path in EXTRA_SETTINGS.get(service, []):
        names |= env_names(load_class(path))
    return names


def test_services_are_discovered() -> None:
    assert SERVICES, "no services/*/pyproject.toml found: is ROOT right?"
    # `make up` provisions and migrates the services with an alembic.ini.
    with_migrations = provision.discover_services(ROOT)
    assert with_migrations == SERVICES, (
        f"give every service an alembic.ini (and migrations): {sorted(set(SERVICES) - set(with_migrations))}"
    )


def test_procfile_runs_every_service_and_its_worker() -> None:
    expected, actual = expected_processes(), set(procfile())
    assert actual == expected, (
        f"Procfile: add processes {sorted(expected - actual)}, remove {sorted(actual - expected)} "
        f"(each services/<name> needs `<name>` and `<name>-worker`, plus `gateway` and {sorted(EXTRA_PROCESSES)})"
    )


def test_compose_runs_every_service_and_its_worker() -> None:
    expected, actual = expected_processes() | INFRASTRUCTURE | GATEWAY_INFRASTRUCTURE, set(compose())
    assert actual == expected, (
        f"docker-compose.yml: add services {sorted(expected - actual)}, remove {sorted(actual - expected)} "
        "(each services/<name> needs `<name>` and `<name>-worker`, plus gateway, postgres, rabbitmq, redis and "
        f"{sorted(EXTRA_PROCESSES)})"
    )


@pytest.mark.parametrize("process", sorted(name for name, command in EXTRA_PROCESSES.items() if command))
def test_extra_processes_run_the_same_command_everywhere(process: str) -> None:
    command = compose().get(process, {}).get("command")
    command = " ".join(command) if isinstance(command, list) else command
    assert command == EXTRA_PROCESSES[process], f"docker-compose.yml `{process}`: run {EXTRA_PROCESSES[process]}"
    assert procfile().get(process) == EXTRA_PROCESSES[process], f"Procfile `{process}`: run {EXTRA_PROCESSES[process]}"


@pytest.mark.parametrize("service", sorted(SMTP_SETTINGS))
def test_every_service_sends_its_mail_to_the_sink(service: str) -> None:
    """`make up`: the settings' defaults are the Procfile's sink; compose: the SMTP host is the sink's container."""
    fields = load_class(SMTP_SETTINGS[service]).model_fields
    default = (fields["smtp_host"].default, fields["smtp_port"].default)
    assert default == local_stack().smtp_address(procfile()[MAIL_SINK]), (
        f"{SMTP_SETTINGS[service]}: smtp_host/smtp_port default {default}, but the Procfile's {MAIL_SINK} listens "
        f"on {local_stack().smtp_address(procfile()[MAIL_SINK])}"
    )
    prefix = load_class(SMTP_SETTINGS[service]).model_config["env_prefix"]
    for name, container in compose().items():
        env = environment(container)
        if any(key.startswith(prefix) for key in env) and name != MAIL_SINK:
            assert env.get(f"{prefix}SMTP_HOST") == MAIL_SINK, f"docker-compose.yml `{name}`: {prefix}SMTP_HOST"
    sink_port = local_stack().smtp_address(" ".join(compose()[MAIL_SINK]["command"]))[1]
    assert sink_port == default[1], f"docker-compose.yml `{MAIL_SINK}`: listen on {default[1]}"


# --- ports ------------------------------------------------------------------------------------------------


def service_ports(service: str, services: dict[str, dict[str, Any]]) -> dict[str, int | None]:
    """Where a service's HTTP port is written down → the port written there (None: not found)."""
    api = services.get(service, {})
    text = dockerfile(service)
    gateway_field = GatewaySettings.model_fields.get(f"{service}_url")
    gateway_env = environment(services.get("gateway", {})).get(f"GATEWAY_{service.upper()}_URL", "")
    health_url = healthcheck_url(api)
    image_health_url = dockerfile_healthcheck_url(text)
    ports: dict[str, int | None] = {
        f"services/{service}/src/{service}/settings.py http_port": settings_port(service),
        f"Procfile `{service}` --port": port_option(procfile().get(service, "")),
        f"services/{service}/Dockerfile EXPOSE": dockerfile_expose(text),
        f"services/{service}/Dockerfile CMD --port": port_option(dockerfile_cmd(text)),
        f"services/{service}/Dockerfile HEALTHCHECK URL": urlsplit(image_health_url).port if image_health_url else None,
        f"gateway/settings.py {service}_url": urlsplit(str(gateway_field.default)).port if gateway_field else None,
        f"docker-compose.yml `{service}` healthcheck URL": urlsplit(health_url).port if health_url else None,
        f"docker-compose.yml `gateway` GATEWAY_{service.upper()}_URL": urlsplit(gateway_env).port,
    }
    return ports | published_port_places(f"docker-compose.yml `{service}`", api)


@pytest.mark.parametrize("service", SERVICES)
def test_service_port_agrees_everywhere(service: str) -> None:
    expected = settings_port(service)
    wrong = {place: port for place, port in service_ports(service, compose()).items() if port != expected}
    assert not wrong, (
        f"{service}'s HTTP port is {expected} in its settings (http_port) but differs here; make them agree: {wrong}"
    )


def test_port_check_catches_a_drifted_compose_file(tmp_path: Path) -> None:
    """The port check is not vacuous: a copy of docker-compose.yml with one port moved fails it."""
    service = SERVICES[0]
    port = settings_port(service)
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    document["services"][service]["ports"] = [f"{port}:{port + 100}"]
    copy = tmp_path / "docker-compose.yml"
    copy.write_text(yaml.safe_dump(document))
    drifted = service_ports(service, load_compose(copy))
    assert len(set(drifted.values())) > 1, f"a moved container port went unnoticed: {drifted}"


def test_gateway_port_agrees_everywhere() -> None:
    gateway = compose().get("gateway", {})
    text = (ROOT / "gateway" / "Dockerfile").read_text()
    health_url = healthcheck_url(gateway)
    ports: dict[str, int | None] = {
        "gateway/settings.py http_port": int(GatewaySettings.model_fields["http_port"].default),
        "Procfile `gateway` --port": port_option(procfile().get("gateway", "")),
        "gateway/Dockerfile EXPOSE": dockerfile_expose(text),
        "gateway/Dockerfile CMD --port": port_option(dockerfile_cmd(text)),
        "docker-compose.yml healthcheck URL": urlsplit(health_url).port if health_url else None,
    }
    ports |= published_port_places("docker-compose.yml `gateway`", gateway)
    expected = ports["gateway/settings.py http_port"]
    wrong = {place: port for place, port in ports.items() if port != expected}
    assert not wrong, f"the gateway's HTTP port is {expected} in its settings but differs here: {wrong}"


def test_service_ports_are_distinct() -> None:
    ports = {service: settings_port(service) for service in SERVICES}
    ports["gateway"] = int(GatewaySettings.model_fields["http_port"].default)
    assert len(set(ports.values())) == len(ports), f"two processes share an HTTP port: {ports}"


# --- environment ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_service_env_prefix_is_its_name(service: str) -> None:
    prefix = settings_class(service).model_config.get("env_prefix")
    # provision.migrate and the test plugin set f"{service.upper()}_DATABASE_URL".
    assert prefix == f"{service.upper()}_", (
        f'{service}/settings.py: set env_prefix="{service.upper()}_" (it is {prefix!r})'
    )


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("process", ["api", "worker"])
def test_compose_env_names_are_settings_fields(service: str, process: str) -> None:
    name = service if process == "api" else f"{service}-worker"
    settings = settings_class(service)
    valid = service_env_names(service)
    env = set(environment(compose().get(name, {})))
    unknown = env - valid
    assert not unknown, (
        f"docker-compose.yml `{name}`: {sorted(unknown)} are not fields of {settings.__name__} "
        f"(the settings would ignore them); valid names: {sorted(valid)}"
    )
    prefix = settings.model_config["env_prefix"]
    missing = {f"{prefix}{key}" for key in REQUIRED_ENV} - env
    assert not missing, f"docker-compose.yml `{name}`: set {sorted(missing)}"


def test_gateway_env_names_are_settings_fields_and_cover_every_service() -> None:
    env = set(environment(compose().get("gateway", {})))
    unknown = env - env_names(GatewaySettings)
    assert not unknown, f"docker-compose.yml `gateway`: {sorted(unknown)} are not fields of GatewaySettings"
    url_fields = {f"{service}_url" for service in SERVICES}
    missing_fields = url_fields - set(GatewaySettings.model_fields)
    assert not missing_fields, f"gateway/settings.py: add the fields {sorted(missing_fields)}"
    missing_env = {f"GATEWAY_{field.upper()}" for field in url_fields} - env
    assert not missing_env, f"docker-compose.yml `gateway`: set {sorted(missing_env)}"


def test_env_urls_use_the_port_of_the_service_they_name() -> None:
    ports = {service: settings_port(service) for service in SERVICES}
    wrong = [
        f"{name}: {key}={value}"
        for name, service in compose().items()
        for key, value in environment(service).items()
        if (url := urlsplit(value)).hostname in ports and url.port != ports[url.hostname]
    ]
    assert not wrong, f"docker-compose.yml: these URLs use another port than the service's own: {wrong}"


@pytest.mark.parametrize("service", SERVICES)
def test_gateway_env_points_at_the_service_container(service: str) -> None:
    url = environment(compose().get("gateway", {})).get(f"GATEWAY_{service.upper()}_URL", "")
    expected = f"http://{service}:{settings_port(service)}"
    assert url == expected, f"docker-compose.yml `gateway`: set GATEWAY_{service.upper()}_URL to {expected}"


# --- database roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_compose_database_url_uses_the_provisioned_role(service: str) -> None:
    expected = expected_databases()[service].url
    for name in (service, f"{service}-worker"):
        url = environment(compose().get(name, {})).get(f"{service.upper()}_DATABASE_URL")
        assert url == expected, (
            f"docker-compose.yml `{name}`: set {service.upper()}_DATABASE_URL to {expected} "
            f"(the role servicekit.provision creates), not {url}"
        )


def test_compose_postgres_creates_the_database() -> None:
    env = environment(compose().get("postgres", {}))
    assert env.get("POSTGRES_DB") == DATABASE, f"docker-compose.yml `postgres`: set POSTGRES_DB: {DATABASE}"
    volumes = [str(volume) for volume in compose().get("postgres", {}).get("volumes", [])]
    mounted = [v for v in volumes if v.startswith("./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/")]
    assert mounted, "docker-compose.yml `postgres`: mount ./deploy/postgres/init.sql into /docker-entrypoint-initdb.d/"


def init_sql() -> str:
    """init.sql without comments, whitespace collapsed and double quotes dropped."""
    text = re.sub(r"--[^\n]*", "", INIT_SQL.read_text())
    return " ".join(text.replace('"', "").split())


@pytest.mark.parametrize("service", SERVICES)
def test_init_sql_creates_the_role_like_provision(service: str) -> None:
    db = expected_databases()[service]
    sql = init_sql()
    statements = [
        f"CREATE ROLE {db.role} LOGIN PASSWORD '{db.password}';",
        f"GRANT CONNECT, CREATE ON DATABASE {db.database} TO {db.role};",
    ]
    missing = [statement for statement in statements if statement not in sql]
    assert not missing, f"deploy/postgres/init.sql: add {missing}"


def test_init_sql_creates_no_other_roles() -> None:
    expected = {db.role for db in expected_databases().values()}
    created = set(re.findall(r"CREATE ROLE (\w+)", init_sql()))
    assert created <= expected, f"deploy/postgres/init.sql: remove the roles {sorted(created - expected)}"


def test_init_sql_closes_the_database_and_installs_postgis() -> None:
    sql = init_sql()
    for statement in (
        f"REVOKE CONNECT ON DATABASE {DATABASE} FROM PUBLIC;",
        "CREATE EXTENSION IF NOT EXISTS postgis;",
    ):
        assert statement in sql, f"deploy/postgres/init.sql: add `{statement}` (as provision.py does)"


# --- health and start order -------------------------------------------------------------------------------


def test_every_compose_service_has_a_healthcheck() -> None:
    # Including postgres and rabbitmq: `condition: service_healthy` on them needs one.
    missing = [
        name
        for name, service in compose().items()
        if not service.get("healthcheck", {}).get("test") or service["healthcheck"].get("disable")
    ]
    assert not missing, f"docker-compose.yml: give {missing} a healthcheck"


@pytest.mark.parametrize("service", SERVICES)
def test_api_healthcheck_asks_readiness(service: str) -> None:
    url = healthcheck_url(compose().get(service, {}))
    assert url is not None, f"docker-compose.yml `{service}`: healthcheck without a URL"
    assert urlsplit(url).path == "/health/ready", f"docker-compose.yml `{service}`: check /health/ready"


def test_gateway_healthcheck_asks_liveness() -> None:
    url = healthcheck_url(compose().get("gateway", {}))
    assert url is not None, "docker-compose.yml `gateway`: healthcheck without a URL"
    assert urlsplit(url).path == "/health/live", "docker-compose.yml `gateway`: check /health/live"


def test_every_dependency_waits_until_healthy() -> None:
    wrong = [
        f"{name} → {dependency}"
        for name, service in compose().items()
        for dependency, options in depends_on(service).items()
        if (options or {}).get("condition") != "service_healthy"
    ]
    assert not wrong, f"docker-compose.yml: use `condition: service_healthy` for {wrong}"


@pytest.mark.parametrize("service", SERVICES)
def test_service_waits_for_its_infrastructure_and_worker_for_its_api(service: str) -> None:
    api = set(depends_on(compose().get(service, {})))
    worker = set(depends_on(compose().get(f"{service}-worker", {})))
    assert api >= INFRASTRUCTURE, f"docker-compose.yml `{service}`: depend on {sorted(INFRASTRUCTURE - api)}"
    assert worker >= INFRASTRUCTURE | {service}, (
        f"docker-compose.yml `{service}-worker`: depend on {sorted((INFRASTRUCTURE | {service}) - worker)} "
        "(the API container runs the migrations the worker needs)"
    )


def test_gateway_waits_for_every_service() -> None:
    missing = (set(SERVICES) | GATEWAY_INFRASTRUCTURE) - set(depends_on(compose().get("gateway", {})))
    assert not missing, f"docker-compose.yml `gateway`: depend on {sorted(missing)}"


def test_gateway_processes_share_their_rate_limit_counters_in_redis() -> None:
    """The image runs several gateway processes; counters kept in each would let a client have several limits."""
    url = environment(compose().get("gateway", {})).get("GATEWAY_REDIS_URL", "")
    assert urlsplit(url).scheme == "redis", "docker-compose.yml `gateway`: set GATEWAY_REDIS_URL"
    assert urlsplit(url).hostname in GATEWAY_INFRASTRUCTURE


# --- images and commands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_and_runs_the_service(service: str) -> None:
    text = dockerfile(service)
    package = project_name(service)
    assert package == service, f"services/{service}/pyproject.toml: name the project {service!r}"
    synced = re.findall(r"uv sync\b[^\n]*--package[ =](\S+)", text)
    assert synced == [package], f"services/{service}/Dockerfile: `uv sync ... --package {package}`"
    cmd = dockerfile_cmd(text)
    assert f"uvicorn {service}.main:create_app --factory" in cmd, (
        f"services/{service}/Dockerfile: CMD should run `uvicorn {service}.main:create_app --factory`"
    )
    assert f"alembic -c services/{service}/alembic.ini upgrade head" in cmd, (
        f"services/{service}/Dockerfile: CMD should migrate with services/{service}/alembic.ini first"
    )


@pytest.mark.parametrize("service", SERVICES)
def test_compose_builds_api_and_worker_from_the_service_dockerfile(service: str) -> None:
    expected = {"context": ".", "dockerfile": f"services/{service}/Dockerfile"}
    for name in (service, f"{service}-worker"):
        build = compose().get(name, {}).get("build")
        assert build == expected, f"docker-compose.yml `{name}`: set build to {expected}"


@pytest.mark.parametrize("service", SERVICES)
def test_worker_runs_the_worker_module(service: str) -> None:
    expected = f"python -m {service}.worker"
    command = compose().get(f"{service}-worker", {}).get("command")
    command = " ".join(command) if isinstance(command, list) else command
    assert command == expected, f"docker-compose.yml `{service}-worker`: set command to {expected}"
    assert procfile().get(f"{service}-worker") == expected, f"Procfile `{service}-worker`: run {expected}"
    assert (ROOT / "services" / service / "src" / service / "worker.py").exists(), (
        f"services/{service}: add src/{service}/worker.py"
    )


def test_gateway_image_runs_the_gateway() -> None:
    text = (ROOT / "gateway" / "Dockerfile").read_text()
    assert re.findall(r"uv sync\b[^\n]*--package[ =](\S+)", text) == ["gateway"], (
        "gateway/Dockerfile: `uv sync ... --package gateway`"
    )
    assert "uvicorn gateway.main:create_app --factory" in dockerfile_cmd(text)
    build = compose().get("gateway", {}).get("build")
    assert build == {"context": ".", "dockerfile": "gateway/Dockerfile"}, (
        "docker-compose.yml `gateway`: build from gateway/Dockerfile with context ."
    )
