"""Commands that only read refuse a database that is not there instead of creating an empty one; commands
that write create it; an in-memory database cannot be upgraded."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import main

READ_ONLY = [
    ["stats"],
    ["jobs"],
    ["previews", "--user", "ou_nobody"],
    ["notifications", "--dead"],
    ["schedule", "--user", "ou_alice", "--now", "2026-11-30T09:05:00+08:00"],
    ["dry-run", "--user", "ou_alice", "--task", "report", "--now", "2026-11-30T09:05:00+08:00"],
    ["retry", "n-1"],
]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: a[0])
def test_a_read_only_command_refuses_a_missing_default_database(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.stderr == (
        f"smartflow: no database at {tmp_path / 'smartflow.db'}: run `smartflow import` or "
        "`smartflow db upgrade` first, or set SMARTFLOW_DATABASE_URL\n"
    )
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: a[0])
def test_a_read_only_command_does_not_create_a_configured_file_or_its_directory(
    args: list[str], tmp_path: Path
) -> None:
    target = tmp_path / "elsewhere" / "sf.db"
    result = CliRunner().invoke(main, args, env={"SMARTFLOW_DATABASE_URL": f"sqlite+aiosqlite:///{target}"})
    assert result.exit_code == 2
    assert f"no database at {target}" in result.stderr
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://"])
@pytest.mark.parametrize("args", [["stats"], ["jobs"]], ids=lambda a: a[0])
def test_a_read_only_command_refuses_an_in_memory_database(args: list[str], url: str) -> None:
    result = CliRunner().invoke(main, args, env={"SMARTFLOW_DATABASE_URL": url})
    assert result.exit_code == 2
    assert "SMARTFLOW_DATABASE_URL is an in-memory SQLite database" in result.stderr


@pytest.mark.parametrize("url", ["sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://"])
def test_db_upgrade_says_an_in_memory_database_cannot_be_upgraded(url: str) -> None:
    result = CliRunner().invoke(main, ["db", "upgrade"], env={"SMARTFLOW_DATABASE_URL": url})
    assert result.exit_code == 2
    assert "SMARTFLOW_DATABASE_URL is an in-memory SQLite database: it cannot be upgraded" in result.stderr
    assert "database schema is at" not in result.stdout


def test_db_upgrade_then_the_read_only_commands_work(tmp_path: Path) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert (tmp_path / "smartflow.db").exists()
    stats = runner.invoke(main, ["stats"])
    assert stats.exit_code == 0, stats.output
    assert stats.stdout.startswith("users")


def test_import_creates_the_database(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text("users:\n  - open_id: ou_alice\n", encoding="utf-8")
    runner = CliRunner()
    imported = runner.invoke(main, ["import", "team.yaml"])
    assert imported.exit_code == 0, imported.output
    assert (tmp_path / "smartflow.db").exists()
    previews = runner.invoke(main, ["previews", "--user", "ou_alice"])
    assert previews.exit_code == 0, previews.output
    assert previews.stdout.strip() == "no previews"
