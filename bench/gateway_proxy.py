"""Gateway proxy benchmark: a cheap GET through the gateway, beside the same GET straight to the service and
through nginx as a reverse proxy to it, all in one run.

    cd /work/main && .venv/bin/python bench/gateway_proxy.py [--seconds 8] [--connections 32] [--rounds 2]

Starts, each as its own process on a free loopback port: the upstream (a minimal FastAPI app under uvicorn,
as the services run: ``GET /api/v1/problems/ping`` answers a small JSON document), the gateway as the Procfile
starts it (``uvicorn gateway.main:create_app --factory`` with the Procfile's ``--workers``, or ``--workers``
here; rate limits on, in memory, with limits too high to trigger) and nginx (Debian package;
``worker_processes 1``, keep-alive to the upstream, config in a temp dir). The load generator is ``wrk``
(Debian package), one thread, ``--connections`` keep-alive connections, after a short warm-up. Targets are
measured in turns (direct, gateway, nginx) for ``--rounds`` rounds; each target's
best round counts, so a burst of noise from other work on the machine hurts less.

Goals (printed as PASS/FAIL; the exit code is 0 either way, see bench/README.md): the gateway keeps at least
0.6 of the direct throughput, and its p99 latency is within 1.5x of nginx's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
PATH = "/api/v1/problems/ping"

UPSTREAM = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/api/v1/problems/ping")
async def ping() -> dict[str, object]:
    return {"status": "ok", "service": "problems", "items": [1, 2, 3]}

@app.get("/api/v1/auth/origins")
async def origins() -> dict[str, list[str]]:
    return {"origins": ["http://127.0.0.1:8000"]}
"""

NGINX = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream service {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://service;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}
}}
"""


@dataclass
class Result:
    rps: float
    p99_ms: float
    p50_ms: float
    errors: int
    requests: int = 0
    cpu_us: dict[str, float] | None = None
    """CPU per request of the gateway's and the upstream's processes during the run, in µs."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer 200")


@contextlib.contextmanager
def process(command: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Iterator[int]:
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
    try:
        yield proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that are alive (uvicorn's workers), from /proc (Linux)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
    return total


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: float, connections: int) -> Result:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency", url]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\n\s+50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\n\s+99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(group) for group in socket_errors.groups())
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    return Result(rps, p99, p50, errors, requests)


def procfile_workers() -> int:
    """The ``--workers`` of the Procfile's gateway line (1 when absent): the bench runs the gateway as deployed."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("gateway:"):
            match = re.search(r"--workers[ =](\d+)", line)
            return int(match.group(1)) if match else 1
    return 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=8.0, help="each timed run (default 8)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (32)")
    parser.add_argument("--rounds", type=int, default=2, help="turns over the three targets (2)")
    parser.add_argument(
        "--workers", type=int, default=None, help="gateway worker processes (default: as the Procfile's gateway line)"
    )
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is missing: apt-get install -y {tool}")
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    workers = args.workers or procfile_workers()
    print(f"gateway: {workers} worker process(es); machine load before: {os.getloadavg()[0]:.2f}")

    with tempfile.TemporaryDirectory(prefix="gorod-bench-gateway-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "bench_upstream.py").write_text(UPSTREAM)
        upstream_port, gateway_port, nginx_port = free_port(), free_port(), free_port()
        upstream = f"http://127.0.0.1:{upstream_port}"
        env = dict(os.environ)
        env.update(
            GATEWAY_PROBLEMS_URL=upstream,
            GATEWAY_AUTH_URL=upstream,
            GATEWAY_LOG_LEVEL="WARNING",
            GATEWAY_IP_READ_LIMIT=str(10**9),
            GATEWAY_PRINCIPAL_READ_LIMIT=str(10**9),
        )
        env.pop("GATEWAY_REDIS_URL", None)
        (tmp / "nginx.conf").write_text(NGINX.format(tmp=tmp, upstream=upstream_port, port=nginx_port))
        gateway_options = ["--workers", str(workers), "--factory", "gateway.main:create_app"]
        uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
        with (
            process([*uvicorn, "--port", str(upstream_port), "bench_upstream:app"], cwd=tmp) as upstream_pid,
            process([*uvicorn, "--port", str(gateway_port), *gateway_options], env=env) as gw,
            process([nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf")]) as nginx_pid,
        ):
            pids = {"gateway": gw, "upstream": upstream_pid, "nginx": nginx_pid}
            targets = {
                "direct": f"{upstream}{PATH}",
                "gateway": f"http://127.0.0.1:{gateway_port}{PATH}",
                "nginx": f"http://127.0.0.1:{nginx_port}{PATH}",
            }
            for url in targets.values():
                wait_ready(url)
            for url in targets.values():  # warm-up: connections, JWKS-free path, caches
                wrk(url, 2, args.connections)
            best: dict[str, Result] = {}
            for round_number in range(1, args.rounds + 1):
                for name, url in targets.items():
                    before = {process_name: cpu_seconds(pid) for process_name, pid in pids.items()}
                    result = wrk(url, args.seconds, args.connections)
                    result.cpu_us = {
                        process_name: (cpu_seconds(pid) - before[process_name]) * 1e6 / max(1, result.requests)
                        for process_name, pid in pids.items()
                    }
                    print(
                        f"round {round_number} {name:8s} {result.rps:9.0f} req/s  p50 {result.p50_ms:7.2f} ms  "
                        f"p99 {result.p99_ms:7.2f} ms  errors {result.errors}  CPU/request: gateway "
                        f"{result.cpu_us['gateway']:4.0f} us, nginx {result.cpu_us['nginx']:4.0f} us, upstream "
                        f"{result.cpu_us['upstream']:4.0f} us"
                    )
                    if name not in best or result.rps > best[name].rps:
                        best[name] = result

    direct, gateway, proxy = best["direct"], best["gateway"], best["nginx"]
    throughput = gateway.rps / direct.rps
    latency = gateway.p99_ms / proxy.p99_ms
    print()
    print(f"{'target':8s} {'req/s':>9s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, result in best.items():
        print(f"{name:8s} {result.rps:9.0f} {result.p50_ms:8.2f} {result.p99_ms:8.2f}")
    print()
    print(f"gateway/direct throughput {throughput:.2f} (goal >= 0.60): {'PASS' if throughput >= 0.6 else 'FAIL'}")
    print(f"gateway/nginx p99         {latency:.2f} (goal <= 1.50): {'PASS' if latency <= 1.5 else 'FAIL'}")
    if gateway.cpu_us and direct.cpu_us and proxy.cpu_us:
        # Moves much less than the rates when other work loads the machine: compare this one between runs.
        print(
            f"CPU per proxied request: gateway {gateway.cpu_us['gateway']:.0f} us (all its processes; nginx "
            f"{proxy.cpu_us['nginx']:.0f} us), upstream "
            f"{direct.cpu_us['upstream']:.0f} us when asked directly; gateway/upstream "
            f"{gateway.cpu_us['gateway'] / max(1.0, direct.cpu_us['upstream']):.2f}. Load average now "
            f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores."
        )
    if gateway.errors or direct.errors or proxy.errors:
        print(f"errors: direct {direct.errors}, gateway {gateway.errors}, nginx {proxy.errors}")


if __name__ == "__main__":
    main()
