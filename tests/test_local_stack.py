"""`make up`'s helper: the gateway's processes share rate-limit counters through a local Redis when one answers."""

from __future__ import annotations

import importlib.util
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from servicekit.testing.smtp import HOST, free_port

STACK = Path(__file__).resolve().parents[1] / "deploy" / "local" / "stack.py"


@pytest.fixture(scope="module")
def stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gorod_local_stack", STACK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def answering(request: pytest.FixtureRequest) -> Iterator[int]:
    """A loopback server that answers one RESP command with ``request.param``."""
    server = socket.create_server((HOST, 0))
    port = server.getsockname()[1]

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(64)
            conn.sendall(request.param)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    thread.join(timeout=5)
    server.close()


@pytest.mark.parametrize("answering", [b"+PONG\r\n"], indirect=True)
def test_a_redis_that_answers_ping_is_used(stack: ModuleType, answering: int) -> None:
    assert stack.local_redis_url(HOST, answering) == f"redis://{HOST}:{answering}/0"


@pytest.mark.parametrize("answering", [b"-ERR unknown command\r\n"], indirect=True)
def test_something_else_on_the_port_is_not_taken_for_redis(stack: ModuleType, answering: int) -> None:
    assert stack.local_redis_url(HOST, answering) is None


def test_no_redis_means_counters_per_process(stack: ModuleType) -> None:
    assert stack.local_redis_url(HOST, free_port()) is None
