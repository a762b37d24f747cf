"""`smartflow serve` as an operator runs it: SIGTERM stops every mode cleanly, a port it cannot open fails
before anything starts, and a bind address it would misread is refused."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.scenario.test_ws import fake_gateway

ROOT = Path(__file__).resolve().parents[2]
SMARTFLOW = Path(sys.executable).with_name("smartflow")
WORKER_STOPPED = re.compile(r"INFO scheduler\.worker\.worker: worker \S+ stopped$", re.MULTILINE)
COMMAND = [str(SMARTFLOW)] if SMARTFLOW.exists() else [sys.executable, "-m", "app.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve_env(sqlite_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTFLOW_")}
    env.update(SMARTFLOW_DATABASE_URL=sqlite_url, SMARTFLOW_LOG_LEVEL="INFO", **extra)
    return env


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:  # never leave a server behind, whatever the test did
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start(
    procs: list[subprocess.Popen[bytes]], args: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        proc = subprocess.Popen([*COMMAND, "serve", *args], cwd=log.parent, env=env, stdout=out, stderr=out)
    procs.append(proc)
    return proc


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no /healthz within {seconds}s:\n{log.read_text()}")


def terminate(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=30)


@pytest.mark.parametrize("mode", ["all", "api"])
def test_sigterm_stops_the_http_modes_cleanly(
    mode: str, sqlite_url: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    port = free_port()
    env = serve_env(sqlite_url, SMARTFLOW_FEISHU_VERIFICATION_TOKEN="t")
    log = tmp_path / "serve.log"
    proc = start(started, ["--mode", mode, "--port", str(port)], env, log)
    wait_healthy(proc, port, log)

    status = terminate(proc)

    text = log.read_text()
    assert status == 0, text  # not -15: the process was not killed by the signal
    assert "SIGTERM received, stopping" in text
    if mode == "all":
        assert WORKER_STOPPED.search(text), text
    assert "Traceback" not in text


def test_sigterm_stops_the_long_connection_mode_cleanly(
    sqlite_url: str, tmp_path: Path, started: list[subprocess.Popen[bytes]], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with fake_gateway() as (gateway, domain):
        env = serve_env(
            sqlite_url,
            SMARTFLOW_FEISHU_APP_ID="cli_ws",
            SMARTFLOW_FEISHU_APP_SECRET="s",
            SMARTFLOW_FEISHU_DOMAIN=domain,
        )
        proc = start(started, ["--mode", "all", "--feishu", "ws", "--port", str(port)], env, log)
        wait_healthy(proc, port, log)
        deadline = time.monotonic() + 20
        while not gateway.connections and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gateway.connections == 1, log.read_text()

        status = terminate(proc)

    text = log.read_text()
    assert status == 0, text
    assert "long connection started" in text
    # The socket was closed with a close frame, not dropped when the process died.
    assert not [r for r in caplog.records if r.name.startswith("websockets") and r.levelno >= logging.WARNING]
    assert WORKER_STOPPED.search(text), text


def test_a_port_in_use_fails_before_the_worker_starts(
    sqlite_url: str, tmp_path: Path, started: list[subprocess.Popen[bytes]]
) -> None:
    env = serve_env(sqlite_url, SMARTFLOW_FEISHU_VERIFICATION_TOKEN="t")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*COMMAND, "serve", "--mode", "all", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert f"smartflow: cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "worker" not in result.stderr  # nothing started: no worker sent a card meanwhile
    assert "serving HTTP" not in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unresolvable_host_is_one_line_and_status_1(sqlite_url: str, tmp_path: Path) -> None:
    env = serve_env(sqlite_url, SMARTFLOW_FEISHU_VERIFICATION_TOKEN="t")
    result = subprocess.run(
        [*COMMAND, "serve", "--host", "nosuchhost.invalid", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("smartflow: cannot listen on nosuchhost.invalid:"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# Without the checks these would start a server on every interface or on port 8000: the timeout makes such a
# regression fail instead of hang.
@pytest.mark.parametrize(
    ("args", "extra", "named"),
    [
        (["--host", ""], {}, "'--host'"),
        (["--host", " "], {}, "'--host'"),
        ([], {"SMARTFLOW_HOST": ""}, "SMARTFLOW_HOST"),
        (["--port", "0"], {}, "'--port'"),
        (["--port", "65536"], {}, "'--port'"),
        (["--port", "-1"], {}, "'--port'"),
    ],
)
def test_a_bind_address_that_would_be_misread_is_refused(
    args: list[str], extra: dict[str, str], named: str, sqlite_url: str, tmp_path: Path
) -> None:
    env = serve_env(
        sqlite_url, SMARTFLOW_FEISHU_VERIFICATION_TOKEN="t", SMARTFLOW_PORT=str(free_port()), **extra
    )
    try:
        result = subprocess.run(
            [*COMMAND, "serve", "--mode", "api", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve {args} {extra} started instead of refusing")
    assert result.returncode == 2, result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving HTTP" not in result.stderr
