"""Settings: SMARTFLOW_ variables are validated once and a bad one is reported by name, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings also read ./.env; run where there is none unless a test writes one.
    monkeypatch.chdir(tmp_path)


def test_defaults_put_sqlite_in_the_working_directory(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'smartflow.db'}"
    assert (settings.timezone, settings.locale, settings.day_start, settings.day_end) == (
        "Asia/Shanghai",
        "zh",
        "08:00",
        "22:30",
    )
    assert settings.admins == ()
    assert not settings.llm_configured
    assert not settings.feishu_configured


def test_environment_values_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTFLOW_DATABASE_URL", "mysql+aiomysql://root@127.0.0.1:3306/sf")
    monkeypatch.setenv("SMARTFLOW_ADMINS", " ou_a1 , ou_b2,,")
    monkeypatch.setenv("SMARTFLOW_TIMEZONE", "America/New_York")
    monkeypatch.setenv("SMARTFLOW_DAY_START", "7:05")
    monkeypatch.setenv("SMARTFLOW_DAY_END", "24:00")
    monkeypatch.setenv("SMARTFLOW_FEISHU_DOMAIN", "http://127.0.0.1:9999/")
    settings = load_settings()
    assert settings.admins == ("ou_a1", "ou_b2")
    assert settings.timezone == "America/New_York"
    assert (settings.day_start, settings.day_end) == ("07:05", "24:00")
    assert settings.feishu_domain == "http://127.0.0.1:9999"


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "SMARTFLOW_TIMEZONE=Europe/Berlin\nSMARTFLOW_LOCALE=en\n", encoding="utf-8"
    )
    settings = load_settings()
    assert (settings.timezone, settings.locale) == ("Europe/Berlin", "en")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMARTFLOW_DATABASE_URL", "not a url"),
        ("SMARTFLOW_DATABASE_URL", "postgresql+asyncpg://localhost/sf"),
        ("SMARTFLOW_TIMEZONE", "Mars/Olympus_Mons"),
        ("SMARTFLOW_ADMINS", "ou_a1,alice"),
        ("SMARTFLOW_LOCALE", "fr"),
        ("SMARTFLOW_DAY_END", "25:00"),
        ("SMARTFLOW_FEISHU_DOMAIN", "open.feishu.cn"),
        ("SMARTFLOW_PORT", "eighty"),
        ("SMARTFLOW_GRID_MINUTES", "1"),
    ],
)
def test_malformed_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert variable in str(info.value)


def test_every_bad_variable_is_reported_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTFLOW_TIMEZONE", "Nowhere/Town")
    monkeypatch.setenv("SMARTFLOW_ADMINS", "bob")
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "SMARTFLOW_TIMEZONE" in message
    assert "SMARTFLOW_ADMINS" in message


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SMARTFLOW_DATABASE_URL", "::nope::"),
        ("SMARTFLOW_TIMEZONE", "Asia/Atlantis"),
        ("SMARTFLOW_ADMINS", "ou_ok,not-an-open-id"),
    ],
)
@pytest.mark.parametrize(
    "args",
    [["schedule", "--user", "ou_a1"], ["import", "team.yaml"], ["db", "upgrade"]],
)
def test_cli_reports_bad_config_with_status_2_and_no_traceback(
    variable: str, value: str, args: list[str], tmp_path: Path
) -> None:
    (tmp_path / "team.yaml").write_text("users: []\n", encoding="utf-8")
    result = CliRunner().invoke(main, args, env={variable: value})
    assert result.exit_code == 2
    assert variable in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    # Nothing ran: in particular no database file was created.
    assert not (tmp_path / "smartflow.db").exists()


def test_cli_help_works_even_with_bad_config() -> None:
    result = CliRunner().invoke(main, ["schedule", "--help"], env={"SMARTFLOW_TIMEZONE": "Bad/Zone"})
    assert result.exit_code == 0
    assert "--user" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("SMARTFLOW_GRID_MINUTES", "7", "must divide an hour"),
        ("SMARTFLOW_DUE_SCAN_SECONDS", "inf", "less than or equal to 3600"),
    ],
)
def test_tuning_values_a_schedule_cannot_use_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert variable in str(info.value)
    assert message in str(info.value)
