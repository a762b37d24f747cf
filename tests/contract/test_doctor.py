"""`smartflow doctor` against fakes on loopback: a correct setup passes every line; each broken setting makes
exactly its own line fail, with advice, and the exit status 1."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from app.cli import main
from tests.fakes.fake_feishu import FakeFeishu, serve_fake_feishu
from tests.fakes.fake_llm import FakeLLM

NAMES = (
    "settings",
    "database",
    "feishu token",
    "feishu scope im",
    "feishu scope contact",
    "feishu scope calendar",
    "llm",
    "calendar connection",
)
GOOD_KEY = "x" * 43 + "="  # 44 url-safe base64 characters: 32 bytes (a Fernet key)


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeFeishu, str, FakeLLM]]:
    with serve_fake_feishu() as (feishu, url), FakeLLM() as llm:
        yield feishu, url, llm


@pytest.fixture
def feishu(fakes: tuple[FakeFeishu, str, FakeLLM]) -> Iterator[FakeFeishu]:
    yield fakes[0]
    fakes[0].reset()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def good_env(db_url: str, fakes: tuple[FakeFeishu, str, FakeLLM]) -> dict[str, str]:
    fake, url, llm = fakes
    return {
        "SMARTFLOW_DATABASE_URL": db_url,
        "SMARTFLOW_FEISHU_APP_ID": fake.app_id,
        "SMARTFLOW_FEISHU_APP_SECRET": fake.app_secret,
        "SMARTFLOW_FEISHU_DOMAIN": url,
        "SMARTFLOW_FEISHU_VERIFICATION_TOKEN": "vt",
        "SMARTFLOW_FEISHU_ENCRYPT_KEY": "ek",
        "SMARTFLOW_LLM_BASE_URL": llm.base_url,
        "SMARTFLOW_LLM_MODEL": "fake-model",
        "SMARTFLOW_LLM_API_KEY": "sk-fake",
        "SMARTFLOW_PUBLIC_URL": "https://smartflow.example.com",
        "SMARTFLOW_SECRET_KEY": GOOD_KEY,
    }


def doctor(env: dict[str, str]) -> tuple[Result, dict[str, tuple[str, str]]]:
    clean = {k: None for k in os.environ if k.startswith("SMARTFLOW_")}
    result = CliRunner().invoke(main, ["doctor"], env={**clean, **env})
    lines: dict[str, tuple[str, str]] = {}
    for line in result.stdout.splitlines():
        status, rest = line.split(None, 1)
        name = next(n for n in sorted(NAMES, key=len, reverse=True) if rest.startswith(n + " "))
        lines[name] = (status, rest[len(name) :].strip())
    return result, lines


def failing(lines: dict[str, tuple[str, str]]) -> list[str]:
    return [name for name, (status, _) in lines.items() if status == "FAIL"]


def test_a_correct_setup_passes_every_line(
    sqlite_url: str, fakes: tuple[FakeFeishu, str, FakeLLM], feishu: FakeFeishu
) -> None:
    result, lines = doctor(good_env(sqlite_url, fakes))
    assert result.exit_code == 0, result.output
    assert list(lines) == list(NAMES)
    assert {status for status, _ in lines.values()} == {"ok"}, result.output
    # the probes sent nothing to anyone
    assert feishu.messages == []


@pytest.mark.parametrize(
    ("broken", "line", "advice"),
    [
        ({"SMARTFLOW_FEISHU_APP_SECRET": "wrong"}, "feishu token", "SMARTFLOW_FEISHU_APP_SECRET"),
        ({"SMARTFLOW_LLM_BASE_URL": "http://127.0.0.1:{port}/v1"}, "llm", "SMARTFLOW_LLM_BASE_URL"),
        ({"SMARTFLOW_PUBLIC_URL": "http://smartflow.example.com"}, "calendar connection", "https://"),
    ],
)
def test_each_broken_setting_fails_its_own_line(
    sqlite_url: str,
    fakes: tuple[FakeFeishu, str, FakeLLM],
    feishu: FakeFeishu,
    broken: dict[str, str],
    line: str,
    advice: str,
) -> None:
    env = good_env(sqlite_url, fakes)
    env.update({k: v.format(port=closed_port()) for k, v in broken.items()})
    result, lines = doctor(env)
    assert result.exit_code == 1, result.output
    assert failing(lines) == [line], result.output
    assert advice in lines[line][1]


@pytest.mark.parametrize(
    ("scopes", "line", "scope"),
    [
        (("im:message", "im:message:send_as_bot"), "feishu scope im", "im:message:send_as_bot"),
        (("contact:user.id:readonly",), "feishu scope contact", "contact:user.id:readonly"),
        (("calendar:calendar.free_busy:read",), "feishu scope calendar", "calendar:calendar.free_busy:read"),
    ],
)
def test_a_missing_scope_fails_exactly_its_line(
    sqlite_url: str,
    fakes: tuple[FakeFeishu, str, FakeLLM],
    feishu: FakeFeishu,
    scopes: tuple[str, ...],
    line: str,
    scope: str,
) -> None:
    feishu.deny_scopes(*scopes)
    result, lines = doctor(good_env(sqlite_url, fakes))
    assert result.exit_code == 1, result.output
    assert failing(lines) == [line], result.output
    assert f"missing scope {scope}" in lines[line][1]
    assert "publish a new app version" in lines[line][1]


def test_the_calendar_scope_is_not_needed_when_busy_time_is_off(
    sqlite_url: str, fakes: tuple[FakeFeishu, str, FakeLLM], feishu: FakeFeishu
) -> None:
    feishu.deny_scopes("calendar:calendar.free_busy:read")
    result, lines = doctor({**good_env(sqlite_url, fakes), "SMARTFLOW_CALENDAR_BUSY": "false"})
    assert result.exit_code == 0, result.output
    assert lines["feishu scope calendar"][0] == "skip"


def test_a_database_that_is_not_upgraded_fails_the_database_line(
    tmp_path: Path, fakes: tuple[FakeFeishu, str, FakeLLM], feishu: FakeFeishu
) -> None:
    missing = f"sqlite+aiosqlite:///{tmp_path / 'none.db'}"
    result, lines = doctor(good_env(missing, fakes))
    assert result.exit_code == 1
    assert failing(lines) == ["database"]
    assert "smartflow db upgrade" in lines["database"][1]
    assert not (tmp_path / "none.db").exists()  # the check created nothing


@pytest.mark.mysql
def test_a_database_without_utf8mb4_fails_the_database_line(
    db_url: str, fakes: tuple[FakeFeishu, str, FakeLLM], feishu: FakeFeishu
) -> None:
    if not db_url.startswith("mysql"):
        pytest.skip("MariaDB only")
    name = f"{make_url(db_url).database}_latin1"
    server = sa.create_engine(make_url(db_url).set(drivername="mysql+pymysql", database=""))
    with server.begin() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET latin1 COLLATE latin1_swedish_ci")
    try:
        url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
        upgraded = CliRunner().invoke(main, ["db", "upgrade"], env={"SMARTFLOW_DATABASE_URL": url})
        assert upgraded.exit_code == 0, upgraded.output
        result, lines = doctor(good_env(url, fakes))
        assert result.exit_code == 1, result.output
        assert failing(lines) == ["database"], result.output
        assert "not utf8mb4" in lines["database"][1]
        assert (
            f"ALTER DATABASE {name} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" in lines["database"][1]
        )
        good, good_lines = doctor(good_env(db_url, fakes))
        assert good.exit_code == 0, good.output
        assert good_lines["database"][0] == "ok"
    finally:
        with server.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        server.dispose()


def test_a_secret_key_that_is_not_a_fernet_key_fails_the_settings_line(
    sqlite_url: str, fakes: tuple[FakeFeishu, str, FakeLLM], feishu: FakeFeishu
) -> None:
    env = good_env(sqlite_url, fakes)
    env["SMARTFLOW_SECRET_KEY"] = "not-a-key"
    clean = {k: None for k in os.environ if k.startswith("SMARTFLOW_")}
    result = CliRunner().invoke(main, ["doctor"], env={**clean, **env})
    assert result.exit_code == 1, result.output
    first, *rest = result.stdout.splitlines()
    assert first.split() == ["FAIL", "settings", "invalid", "configuration:"]
    assert any("SMARTFLOW_SECRET_KEY" in line and "Fernet key" in line for line in rest), result.output
    assert "not-a-key" not in result.output
