"""`make up`'s helper: the gateway's processes share rate-limit counters through a local Redis when one answers; the
e-mails the platform sends land in a local mail sink, unless an SMTP server already listens on its port."""

from __future__ import annotations

import email
import email.policy
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType

import pytest

from servicekit.testing.smtp import HOST, free_port

from .conftest import local_stack


@pytest.fixture(scope="module")
def stack() -> ModuleType:
    return local_stack()


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


def test_the_procfiles_mail_sink_keeps_what_it_is_sent(stack: ModuleType, tmp_path: Path) -> None:
    """The Procfile's own command line (on a free port, into a temporary Maildir) receives an e-mail."""
    command = stack.procfile_processes()[stack.MAIL_SINK]
    assert stack.smtp_address(command) == ("127.0.0.1", 1025)  # where every service's SMTP settings point
    port = free_port()
    argv = command.replace("127.0.0.1:1025", f"{HOST}:{port}").replace(".run/mail", str(tmp_path / "mail")).split()
    assert argv[:3] == ["python", "-m", "aiosmtpd"]
    sink = subprocess.Popen([sys.executable, *argv[1:]], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not stack.port_taken(HOST, port):
            assert sink.poll() is None, sink.stderr.read() if sink.stderr else b""
            assert time.monotonic() < deadline, "the mail sink did not listen"
            time.sleep(0.1)
        message = EmailMessage()
        message["From"], message["To"] = "obrashcheniya@gorod.example", "admin@kolomna.example"
        message["Subject"] = "Обращение № 1"
        message.set_content("Текст обращения")
        with smtplib.SMTP(HOST, port, timeout=10) as client:
            client.send_message(message)
        delivered = list((tmp_path / "mail" / "new").iterdir())
        assert len(delivered) == 1
        assert "Текст обращения" in body_text(delivered[0].read_bytes())
    finally:
        sink.terminate()
        sink.wait(timeout=10)


def body_text(raw: bytes) -> str:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    body = parsed.get_body()
    assert body is not None
    return str(body.get_content())


def test_make_up_leaves_the_sink_out_when_an_smtp_server_already_listens(stack: ModuleType) -> None:
    taken = socket.create_server((HOST, 0))
    try:
        port = taken.getsockname()[1]
        processes = {"gateway": "uvicorn …", stack.MAIL_SINK: f"python -m aiosmtpd -n -l {HOST}:{port} -c x .run/mail"}
        names, mail = stack.processes_to_start(processes)
        assert names == ["gateway"]
        assert f"{HOST}:{port}" in mail
    finally:
        taken.close()
    names, mail = stack.processes_to_start(processes)
    assert names == ["gateway", stack.MAIL_SINK]
    assert ".run/mail/new" in mail
