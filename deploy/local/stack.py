"""The local stack behind `make up` / `make down`: provision, migrate, load demo data, run under honcho.

    python deploy/local/stack.py up      # idempotent: provisions, migrates, loads demo data, starts all
    python deploy/local/stack.py down    # stops everything `up` started
    python deploy/local/stack.py status  # the gateway's view of every service

Processes run from the Procfile under honcho, in the background; their logs go to .run/gorod.log.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from servicekit import provision
from servicekit.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / ".run"
PID_FILE = RUN_DIR / "honcho.pid"
LOG_FILE = RUN_DIR / "gorod.log"
MAIL_DIR = RUN_DIR / "mail"
MAIL_SINK = "mail-sink"
"""The Procfile's development SMTP server: every e-mail the platform sends lands in MAIL_DIR (a Maildir)."""
GATEWAY = "http://127.0.0.1:8000"
DATABASE = "gorod"
VHOST = "gorod"


def fail(message: str) -> None:
    print(f"gorod: {message}", file=sys.stderr)
    raise SystemExit(1)


def running_pid() -> int | None:
    try:
        pid = int(PID_FILE.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def gateway_health(timeout: float = 3.0) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{GATEWAY}/health", timeout=timeout) as response:  # noqa: S310 - our URL
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
    except (urllib.error.URLError, OSError, ValueError):
        return 0, {}


def provision_stack() -> None:
    admin_url = os.environ.get("GOROD_ADMIN_DATABASE_URL", provision.DEFAULT_ADMIN_URL)
    services = provision.discover_services(ROOT)
    dbs = provision.service_databases(admin_url, DATABASE, services, role_prefix="gorod_")
    print(f"gorod: provisioning database {DATABASE!r} and vhost {VHOST!r}, migrating {len(dbs)} services")
    try:
        asyncio.run(provision.provision(ROOT, admin_url=admin_url, database=DATABASE, dbs=dbs, vhost=VHOST))
    except provision.ProvisioningError as error:
        fail(str(error))


def service_settings(name: str) -> ServiceSettings:
    """A service's settings, as its own processes will read them from the environment."""
    module = importlib.import_module(f"{name}.settings")
    settings: ServiceSettings = getattr(module, f"{name.capitalize()}Settings")()
    return settings


def load_demo_data() -> list[str]:
    """Each service's ``<name>.demo.load(settings)``; returns the lines they want in the summary."""
    lines: list[str] = []
    for name in provision.discover_services(ROOT):
        demo = importlib.import_module(f"{name}.demo")
        lines += asyncio.run(demo.load(service_settings(name)))
    return lines


def local_redis_url(host: str = "127.0.0.1", port: int = 6379) -> str | None:
    """Redis on this machine, if one answers PING."""
    try:
        with socket.create_connection((host, port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            answer = conn.recv(16)
    except OSError:
        return None
    return f"redis://{host}:{port}/0" if answer.startswith(b"+PONG") else None


def procfile_processes() -> dict[str, str]:
    """Process name → command, from the Procfile."""
    processes = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def smtp_address(command: str) -> tuple[str, int]:
    """The ``-l host:port`` the mail sink's command listens on."""
    host, _, port = command.split(" -l ", 1)[1].split()[0].rpartition(":")
    return host, int(port)


def port_taken(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def processes_to_start(processes: dict[str, str] | None = None) -> tuple[list[str], str]:
    """The Procfile's processes to run, and where the e-mails the platform sends can be read.

    The mail sink is left out when an SMTP server (a developer's own mail catcher, say) already listens on its
    port: honcho stops every process when one exits, and the sink could not bind."""
    processes = procfile_processes() if processes is None else processes
    host, port = smtp_address(processes[MAIL_SINK])
    if port_taken(host, port):
        return [name for name in processes if name != MAIL_SINK], f"the SMTP server already on {host}:{port}"
    return list(processes), f"{(MAIL_DIR / 'new').relative_to(ROOT)}/ (one file per message)"


def start_processes(names: list[str]) -> None:
    RUN_DIR.mkdir(exist_ok=True)
    log = LOG_FILE.open("ab")
    env = dict(os.environ)
    # The gateway runs two processes (Procfile); with Redis they share their rate-limit counters, so a limit
    # (sign-in's above all) is what it says, not twice that. Without Redis each process counts on its own.
    redis_url = env.get("GATEWAY_REDIS_URL") or local_redis_url()
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    process = subprocess.Popen(  # noqa: S603 - our own interpreter
        [sys.executable, "-m", "honcho", "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT), *names],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # survives the terminal; `make down` stops it
        env=env,
    )
    PID_FILE.write_text(str(process.pid))


def wait_until_healthy(seconds: float = 90) -> dict:
    deadline = time.monotonic() + seconds
    body: dict = {}
    while time.monotonic() < deadline:
        status, body = gateway_health()
        if status == 200:
            return body
        if running_pid() is None:
            fail(f"the processes stopped while starting; see {LOG_FILE.relative_to(ROOT)}")
        time.sleep(1)
    not_ready = [name for name, s in body.get("services", {}).items() if s.get("status") != "ready"]
    fail(f"not ready after {seconds:.0f}s: {', '.join(not_ready) or 'gateway'}; see {LOG_FILE.relative_to(ROOT)}")
    return body


def summary(health: dict, demo_lines: list[str], mail: str | None = None) -> str:
    services = health.get("services", {})
    rows = [
        "",
        "Gorod is running.",
        "",
        f"  Gateway (the one public door) {GATEWAY}",
        f"  Platform health               {GATEWAY}/health",
        "  RabbitMQ management           http://127.0.0.1:15672  (guest / guest)",
        f"  PostgreSQL                    127.0.0.1:5432, database {DATABASE!r} (schema + role per service)",
        *([f"  E-mails the platform sends    {mail}"] if mail else []),
        "",
        "  Services (each with /docs, /health/ready, /metrics):",
    ]
    for name, status in services.items():
        port = service_settings(name).http_port
        rows.append(f"    {name:<12} http://127.0.0.1:{port:<6} {status.get('status', '?')}")
    rows += ["", "  Demo data:"] + [f"    {line}" for line in demo_lines or ["(none yet: each service adds its own)"]]
    rows += ["", f"  Logs: tail -f {LOG_FILE.relative_to(ROOT)}      Stop: make down", ""]
    return "\n".join(rows)


def up() -> None:
    if running_pid() is not None:
        status, health = gateway_health()
        print("gorod: already running" + ("" if status == 200 else " (not every service is ready yet)"))
        print(summary(health, []))
        return
    provision_stack()
    demo_lines = load_demo_data()
    print("gorod: starting the gateway, services and workers")
    names, mail = processes_to_start()
    start_processes(names)
    print(summary(wait_until_healthy(), demo_lines, mail))


def down() -> None:
    pid = running_pid()
    if pid is None:
        print("gorod: not running")
        PID_FILE.unlink(missing_ok=True)
        return
    os.killpg(pid, signal.SIGTERM)
    for _ in range(100):
        if running_pid() is None:
            break
        time.sleep(0.1)
    else:
        os.killpg(pid, signal.SIGKILL)
    PID_FILE.unlink(missing_ok=True)
    print("gorod: stopped")


def status() -> None:
    code, health = gateway_health()
    if code == 0:
        fail("the gateway does not answer at " + GATEWAY + " (is it up? `make up`)")
    print(json.dumps(health, indent=2, ensure_ascii=False))
    raise SystemExit(0 if code == 200 else 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "status"])
    command = parser.parse_args().command
    {"up": up, "down": down, "status": status}[command]()


if __name__ == "__main__":
    main()
