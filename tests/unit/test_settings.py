"""Settings: SMARTFLOW_ variables are validated once and a bad one is reported by name, exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main
from app.settings import ConfigError, builtin_settings, load_settings, unknown_variables


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


def test_the_worker_takes_its_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTFLOW_LEASE_SECONDS", "90")
    monkeypatch.setenv("SMARTFLOW_DAILY_CARD_CAP", "3")
    config = load_settings().worker_config(delivery_batch=7)
    assert (config.lease_seconds, config.daily_card_cap, config.delivery_batch) == (90.0, 3, 7)
    # The defaults are the settings' defaults: the worker declares none of its own.
    defaults = builtin_settings()
    assert builtin_settings().worker_config().due_scan_seconds == defaults.due_scan_seconds == 5.0
    assert builtin_settings().worker_config().feishu_timeout_seconds == defaults.feishu_timeout_seconds


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


def test_a_dotenv_that_is_not_utf8_is_reported_by_file_and_position(tmp_path: Path) -> None:
    (tmp_path / ".env").write_bytes(b"SMARTFLOW_LOCALE=en\nSMARTFLOW_TIMEZONE=\xff\n")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert str(info.value) == f"{tmp_path / '.env'}: not UTF-8 (line 2, byte 39); save it as UTF-8"


def test_a_utf16_dotenv_fails_every_command_with_status_2_and_no_traceback(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SMARTFLOW_LOCALE=en\n", encoding="utf-16")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 2
    assert f"smartflow: {tmp_path / '.env'}: not UTF-8" in result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert not (tmp_path / "smartflow.db").exists()


def test_a_byte_order_mark_does_not_hide_the_first_variable(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SMARTFLOW_LOCALE=en\n", encoding="utf-8-sig")
    assert load_settings().locale == "en"


@pytest.mark.parametrize(("start", "end"), [("08:00", "07:00"), ("08:00", "08:00"), ("24:00", "24:00")])
def test_a_day_end_not_after_the_day_start_is_refused_naming_both(
    monkeypatch: pytest.MonkeyPatch, start: str, end: str
) -> None:
    monkeypatch.setenv("SMARTFLOW_DAY_START", start)
    monkeypatch.setenv("SMARTFLOW_DAY_END", end)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert f"SMARTFLOW_DAY_END ({end}) must be after SMARTFLOW_DAY_START ({start})" in str(info.value)


def test_a_day_end_only_is_checked_against_the_default_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTFLOW_DAY_END", "7:00")
    with pytest.raises(ConfigError, match=r"SMARTFLOW_DAY_START \(08:00\)"):
        load_settings()


@pytest.mark.parametrize("end", ["24:00", "00:00"])
def test_a_day_ending_at_midnight_is_accepted(monkeypatch: pytest.MonkeyPatch, end: str) -> None:
    # as in the importer: an end of 00:00 means midnight
    monkeypatch.setenv("SMARTFLOW_DAY_START", "20:00")
    monkeypatch.setenv("SMARTFLOW_DAY_END", end)
    assert load_settings().day_end == end


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("sqlite:///x.db", "sqlite://"),
        ("mysql://root@127.0.0.1:3306/sf", "mysql://"),
        ("mysql+pymysql://root:s3cret@127.0.0.1/sf", "mysql+pymysql://"),
        ("postgresql://localhost/sf", "postgresql://"),
        ("postgresql+asyncpg://localhost/sf", "postgresql+asyncpg://"),
    ],
)
def test_a_database_url_without_a_supported_async_driver_is_refused(
    monkeypatch: pytest.MonkeyPatch, url: str, scheme: str
) -> None:
    monkeypatch.setenv("SMARTFLOW_DATABASE_URL", url)
    with pytest.raises(ConfigError) as info:
        load_settings()
    message = str(info.value)
    assert "SMARTFLOW_DATABASE_URL: use sqlite+aiosqlite:///path or mysql+aiomysql://" in message
    assert f"(got {scheme};" in message
    assert "s3cret" not in message


@pytest.mark.parametrize(
    "url", ["sqlite+aiosqlite:///x.db", "sqlite+aiosqlite://", "mysql+aiomysql://u:p@127.0.0.1:3306/sf"]
)
def test_the_supported_drivers_are_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SMARTFLOW_DATABASE_URL", url)
    assert load_settings().database_url == url


def test_an_unknown_log_level_is_refused_listing_the_valid_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTFLOW_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "SMARTFLOW_LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'" in str(
        info.value
    )


def test_a_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTFLOW_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"


def test_unknown_variables_are_named_with_the_closest_setting(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SMARTFLOW_TIMEZON=UTC\nSMARTFLOW_LOCALE=en\n", encoding="utf-8")
    environ = {
        "SMARTFLOW_DATABSE_URL": "mysql+aiomysql://root@127.0.0.1/x",
        "smartflow_admin": "ou_a1",
        "SMARTFLOW_ZZZ": "1",
        "SMARTFLOW_PORT": "8001",  # a setting
        "SMARTFLOW_TEST_MYSQL_URL": "mysql+aiomysql://root@127.0.0.1/t",  # read by the tests
        "PATH": "/usr/bin",
    }
    assert unknown_variables(environ) == [
        "SMARTFLOW_DATABSE_URL (environment) is not a setting and is ignored; "
        "did you mean SMARTFLOW_DATABASE_URL?",
        "SMARTFLOW_TIMEZON (.env) is not a setting and is ignored; did you mean SMARTFLOW_TIMEZONE?",
        "SMARTFLOW_ZZZ (environment) is not a setting and is ignored (docs/operator-guide.md lists them all)",
        "smartflow_admin (environment) is not a setting and is ignored; did you mean SMARTFLOW_ADMINS?",
    ]


@pytest.mark.parametrize("args", [["db", "upgrade"], ["stats"], ["schedule", "--user", "ou_a1"]])
def test_every_command_warns_about_an_unknown_variable_and_still_runs(args: list[str]) -> None:
    result = CliRunner().invoke(
        main, args, env={"SMARTFLOW_DATABSE_URL": "mysql+aiomysql://root@127.0.0.1/x"}
    )
    assert (
        "smartflow: warning: SMARTFLOW_DATABSE_URL (environment) is not a setting and is ignored; "
        "did you mean SMARTFLOW_DATABASE_URL?" in result.stderr
    )
    assert "Traceback" not in result.output
    # a warning, not an error: db upgrade succeeds; the read-only ones stop only because there is no database
    if args == ["db", "upgrade"]:
        assert result.exit_code == 0
    else:
        assert "no database at" in result.stderr


def test_builtin_settings_ignore_the_environment_and_dotenv(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMARTFLOW_TIMEZONE", "Mars/Base")
    monkeypatch.setenv("SMARTFLOW_GRID_MINUTES", "abc")
    monkeypatch.setenv("SMARTFLOW_FEISHU_APP_ID", "cli_real")
    (tmp_path / ".env").write_bytes(b"SMARTFLOW_LOCALE=\xff\n")
    settings = builtin_settings(database_url="sqlite+aiosqlite:///demo.db")
    assert settings.database_url == "sqlite+aiosqlite:///demo.db"
    assert (settings.timezone, settings.grid_minutes, settings.locale) == ("Asia/Shanghai", 15, "zh")
    assert not settings.feishu_configured


@pytest.mark.parametrize("key", ["not-a-key", "x" * 40, "é" * 44, "A" * 43])
def test_a_secret_key_that_is_not_a_fernet_key_is_refused_by_name_without_echoing_it(key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(secret_key=key)
    message = str(info.value)
    assert "SMARTFLOW_SECRET_KEY" in message
    assert "Fernet" in message
    assert "Fernet.generate_key()" in message  # how to make one
    assert key not in message


def test_a_fernet_key_is_accepted() -> None:
    from cryptography.fernet import Fernet

    key = Fernet.generate_key().decode()
    assert load_settings(secret_key=key).secret_key == key
