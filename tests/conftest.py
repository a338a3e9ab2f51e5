"""System tests: the real processes of the platform, started as `make up` starts them, on ports of their own."""

from __future__ import annotations

import functools
import importlib.util
import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from servicekit.testing.plugin import TestStack

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def local_stack() -> ModuleType:
    """``deploy/local/stack.py``, `make up`'s helper (a script, not a package): loaded from its file."""
    spec = importlib.util.spec_from_file_location("gorod_local_stack", ROOT / "deploy" / "local" / "stack.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningStack:
    gateway_url: str
    service_urls: dict[str, str]
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    logs: Path = ROOT
    smtp_port: int = 0
    """The mail sink's port; what it received is in ``logs / "mail"`` (a Maildir)."""
    inbound_smtp_port: int = 0
    """Where routing-mail receives officials' e-mailed answers."""

    def stop(self, name: str) -> None:
        process = self.processes[name]
        process.terminate()
        process.wait(timeout=15)


def _start(name: str, command: str, env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    log = (log_dir / f"{name}.log").open("wb")
    return subprocess.Popen(shlex.split(command), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_ready(url: str, processes: dict[str, subprocess.Popen[bytes]], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, process in processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode} while starting")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url} not ready after {seconds}s")


@pytest.fixture(scope="module")
def running_stack(gorod_stack: TestStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """Every API, worker and the gateway from the Procfile, with the test stack's settings and free ports."""
    log_dir = tmp_path_factory.mktemp("processes")
    commands = procfile()
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    ports = {name: free_port() for name, command in commands.items() if "--port" in shlex.split(command)}
    service_urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items() if name != "gateway"}
    for name, url in service_urls.items():
        env[f"GATEWAY_{name.upper()}_URL"] = url
    # The e-mail side on ports of its own too: the development SMTP sink, every sender pointed at it, and the
    # routing-mail process's receiver of officials' answers.
    stack = local_stack()
    smtp_port = free_port()
    sink = commands[stack.MAIL_SINK]
    host, port = stack.smtp_address(sink)
    sink = sink.replace(f" -l {host}:{port} ", f" -l 127.0.0.1:{smtp_port} ")
    commands[stack.MAIL_SINK] = sink.replace(f" {stack.MAIL_DIR.relative_to(ROOT)}", f" {log_dir / 'mail'}")
    for prefix in ("AUTH_", "PROBLEMS_", "ROUTING_MAIL_"):
        env[f"{prefix}SMTP_PORT"] = str(smtp_port)
    inbound_smtp_port = free_port()
    env["ROUTING_MAIL_INBOUND_PORT"] = str(inbound_smtp_port)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, command in commands.items():
            if name in ports:
                command = command.replace(f"--port {_procfile_port(command)}", f"--port {ports[name]}")
            processes[name] = _start(name, command, env, log_dir)
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        for url in [*service_urls.values(), gateway_url]:
            _wait_ready(f"{url}/health/ready", processes)
        yield RunningStack(gateway_url, service_urls, processes, log_dir, smtp_port, inbound_smtp_port)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def _procfile_port(command: str) -> str:
    parts = shlex.split(command)
    return parts[parts.index("--port") + 1]
