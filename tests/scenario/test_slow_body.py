"""A client that sends a callback's headers and then dribbles (or never sends) the body is answered 408 and
disconnected within the body-read budget, by a real `smartflow serve` over loopback."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.scenario.test_serve_process import free_port, serve_env, start, started, wait_healthy

__all__ = ["started"]  # the fixture, re-exported for pytest

HEADERS = (
    b"POST /feishu/events HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    b"Content-Length: 200\r\n\r\n"
)


def read_until_closed(sock: socket.socket, seconds: float) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and when it closed (from now)."""
    started_at = time.monotonic()
    sock.settimeout(seconds)
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            raise AssertionError(f"connection still open after {seconds}s; got {data!r}") from None
        if not chunk:
            return data, time.monotonic() - started_at
        data += chunk


@pytest.mark.parametrize("dribble", [False, True], ids=["no-body", "dribbled-body"])
def test_a_slow_body_gets_408_and_the_connection_closed(
    dribble: bool, sqlite_url: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    env = serve_env(sqlite_url, SMARTFLOW_FEISHU_VERIFICATION_TOKEN="t", SMARTFLOW_BODY_READ_SECONDS="1")
    log = tmp_path / "serve.log"
    proc = start(started, ["--mode", "api", "--port", str(port)], env, log)
    wait_healthy(proc, port, log)

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(HEADERS + b'{"a":')
        if dribble:  # a byte every 0.3 s: each read makes progress, the whole body never arrives in time
            for _ in range(8):
                time.sleep(0.3)
                try:
                    sock.sendall(b" ")
                except (BrokenPipeError, ConnectionResetError):
                    break  # the server gave up on us, as it should; its answer is still readable
        data, _ = read_until_closed(sock, 10)

    assert data.startswith(b"HTTP/1.1 408"), data
    assert proc.poll() is None  # the server is still serving
    assert "Traceback" not in log.read_text()


def test_an_idle_keep_alive_connection_is_closed(
    sqlite_url: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    env = serve_env(sqlite_url, SMARTFLOW_FEISHU_VERIFICATION_TOKEN="t", SMARTFLOW_BODY_READ_SECONDS="1")
    log = tmp_path / "serve.log"
    proc = start(started, ["--mode", "api", "--port", str(port)], env, log)
    wait_healthy(proc, port, log)

    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        data, after = read_until_closed(sock, 10)

    assert data.startswith(b"HTTP/1.1 200"), data
    assert after < 4  # uvicorn's default is 5 s; ours follows the 1 s budget
