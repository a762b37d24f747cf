"""What an operator meets on a first install: no empty database left by a rejected import, database errors
that name the server and the setting, listings with titles, names and local times, dry-run by title, and
the bot's replies printed in console mode."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from app.cli import main
from store import Store
from store.enums import JobStatus, NotificationKind
from store.models import Job, Trigger
from tests.contract import factories as f
from tests.fakes.feishu_callbacks import CallbackBuilder

ROOT = Path(__file__).resolve().parents[2]
SMARTFLOW = Path(sys.executable).with_name("smartflow")
COMMAND = [str(SMARTFLOW)] if SMARTFLOW.exists() else [sys.executable, "-m", "app.cli"]


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"SMARTFLOW_DATABASE_URL": db_url})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


def test_a_rejected_import_leaves_no_database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "data" / "smartflow.db"
    url = f"sqlite+aiosqlite:///{path}"
    bad = tmp_path / "bad.yaml"
    # well-formed YAML, rejected by the checks that run against the database (an unknown user)
    bad.write_text(
        "tasks:\n  - {user: ou_nobody, key: t, title: x, estimate_minutes: 30}\n", encoding="utf-8"
    )
    result = run(url, "import", str(bad))
    assert result.exit_code == 1
    assert "unknown user 'ou_nobody'" in result.stderr
    assert not path.exists()
    stats = run(url, "stats")
    assert stats.exit_code == 2
    assert "no database at" in stats.stderr


def test_an_unreachable_database_names_the_server_and_the_setting() -> None:
    port = closed_port()
    for args in (["stats"], ["db", "upgrade"], ["jobs"]):
        result = run(f"mysql+aiomysql://root@127.0.0.1:{port}/smartflow", *args)
        assert result.exit_code == 1, args
        line = result.stderr.strip()
        assert len(line.splitlines()) == 1, line
        assert f"127.0.0.1:{port}" in line
        assert "SMARTFLOW_DATABASE_URL" in line
        assert "(2003," not in line  # not the driver's raw tuple
        assert "Traceback" not in result.output


@pytest.mark.mysql
def test_an_unknown_database_says_how_to_create_it(db_url: str) -> None:
    if not db_url.startswith("mysql"):
        pytest.skip("MariaDB only")
    url = make_url(db_url).set(database="smartflow_does_not_exist")
    rendered = url.render_as_string(hide_password=False)
    for args in (["stats"], ["db", "upgrade"]):
        result = run(rendered, *args)
        assert result.exit_code == 1
        line = result.stderr.strip()
        assert "database 'smartflow_does_not_exist' does not exist" in line
        assert (
            "CREATE DATABASE smartflow_does_not_exist CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
            in line
        )
        assert "SMARTFLOW_DATABASE_URL" in line


async def _seed(db_url: str, now: datetime) -> dict[str, str]:
    store = Store(db_url)
    try:
        async with store.uow() as uow:
            user = uow.users.add(f.user(now, "ou_lin", name="林小雨", timezone="Asia/Shanghai"))
            await uow.flush()
            task = uow.tasks.add(f.task(now, user.id, key="lab", title="物理实验报告"))
            await uow.flush()
            job = uow.jobs.add(
                Job(
                    task_id=task.id,
                    user_id=user.id,
                    trigger_at=datetime(2026, 12, 3, 2, 0, tzinfo=UTC),
                    status=JobStatus.PENDING,
                    created_at=now,
                    updated_at=now,
                )
            )
            trigger: Trigger = uow.triggers.add(f.trigger(now, user.id))
            await uow.flush()
            preview = uow.previews.add(
                f.preview(
                    datetime(2026, 12, 2, 23, 30, tzinfo=UTC),
                    user.id,
                    trigger.id,
                    task_id=task.id,
                    expires_at=datetime(2026, 12, 3, 0, 30, tzinfo=UTC),
                )
            )
            note, _ = await uow.notifications.insert_if_absent(
                "n-waiting",
                user_id=user.id,
                kind=NotificationKind.CARD,
                payload={},
                now=now,
                next_attempt_at=datetime(2026, 12, 3, 1, 0, tzinfo=UTC),
            )
            await uow.commit()
            return {"job": job.id, "preview": preview.id, "notification": note.id}
    finally:
        await store.dispose()


def test_jobs_previews_and_notifications_show_titles_names_and_local_times(
    db_url: str, now: datetime
) -> None:
    ids = asyncio.run(_seed(db_url, now))
    text = run(db_url, "jobs")
    assert text.exit_code == 0, text.output
    line = next(x for x in text.stdout.splitlines() if ids["job"] in x)
    # 02:00 UTC is 10:00 in Shanghai
    assert line.startswith("2026-12-03 10:00 +08:00  '物理实验报告'  林小雨 (ou_lin)")
    rows = json.loads(run(db_url, "jobs", "--json").stdout)["rows"]
    assert rows[0]["task_title"] == "物理实验报告"
    assert rows[0]["user_name"] == "林小雨"
    assert rows[0]["user_open_id"] == "ou_lin"
    assert rows[0]["trigger_at"] == "2026-12-03T02:00:00+00:00"
    assert rows[0]["trigger_at_local"] == "2026-12-03T10:00:00+08:00"

    shown = run(db_url, "previews")
    assert shown.exit_code == 0, shown.output
    line = next(x for x in shown.stdout.splitlines() if ids["preview"] in x)
    assert line.startswith("2026-12-03 07:30 +08:00  '物理实验报告'  林小雨 (ou_lin)")
    waiting = run(db_url, "notifications")
    assert waiting.exit_code == 0, waiting.output
    line = next(x for x in waiting.stdout.splitlines() if ids["notification"] in x)
    assert "林小雨 (ou_lin)" in line
    assert "next=2026-12-03 09:00 +08:00" in line
    note = json.loads(run(db_url, "notifications", "--json").stdout)["rows"][0]
    assert (note["user_name"], note["next_attempt_at_local"]) == ("林小雨", "2026-12-03T09:00:00+08:00")
    prev = json.loads(run(db_url, "previews", "--user", "ou_lin", "--json").stdout)["rows"][0]
    assert prev["task_title"] == "物理实验报告"
    assert prev["created_at_local"] == "2026-12-03T07:30:00+08:00"
    assert prev["expires_at_local"] == "2026-12-03T08:30:00+08:00"


def test_dry_run_takes_a_task_title_and_ids_are_as_documented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'sf.db'}"
    assert run(url, "import", str(ROOT / "examples" / "team.yaml")).exit_code == 0
    at = "2026-11-30T08:00"
    by_key = json.loads(
        run(url, "dry-run", "--user", "ou_alice", "--task", "report", "--now", at, "--json").stdout
    )
    for ref in ("物理实验报告", "物理实验"):  # the exact title, a meaningful part of it
        result = run(url, "dry-run", "--user", "ou_alice", "--task", ref, "--now", at, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["target"] == by_key["target"]
    # docs/cli-json.md: row ids 32 hex characters, candidate ids 12; instants in the user's offset except the
    # changes (UTC)
    doc = (ROOT / "docs" / "cli-json.md").read_text(encoding="utf-8")
    assert "32-character" in doc
    assert "Candidate ids are 12-character hex strings" in doc
    assert re.fullmatch(r"[0-9a-f]{32}", by_key["target"]["task"]["id"])
    assert by_key["candidates"]
    for candidate in by_key["candidates"]:
        assert re.fullmatch(r"[0-9a-f]{12}", candidate["id"]), candidate["id"]
        for change in candidate["changes"]:
            for name in ("start", "end", "old_start", "old_end"):
                assert change[name] is None or change[name].endswith("+00:00")
    assert by_key["now"] == "2026-11-30T08:00:00+08:00"
    jobs = json.loads(run(url, "jobs", "--json").stdout)["rows"]
    assert all(re.fullmatch(r"[0-9a-f]{32}", j[k]) for j in jobs for k in ("id", "task_id", "user_id"))
    assert all(j["trigger_at"].endswith("+00:00") for j in jobs)

    missing = run(url, "dry-run", "--user", "ou_alice", "--task", "不存在的任务", "--now", at)
    assert missing.exit_code == 1
    assert "has no task '不存在的任务'" in missing.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_console_mode_prints_the_bots_chat_replies(sqlite_url: str, tmp_path: Path) -> None:
    """No Feishu credentials: `serve` answers a chat message and the reply is on stdout, not invisible."""
    callbacks = CallbackBuilder()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTFLOW_")}
    env.update(
        SMARTFLOW_DATABASE_URL=sqlite_url,
        SMARTFLOW_FEISHU_VERIFICATION_TOKEN=callbacks.verification_token,
        SMARTFLOW_FEISHU_ENCRYPT_KEY=callbacks.encrypt_key,
        SMARTFLOW_LOCALE="en",
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*COMMAND, "serve", "--mode", "api", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.DEVNULL,
        )
    try:
        _wait_healthy(proc, port, log)
        request = callbacks.message("ou_console", "/tasks")
        answer = httpx.post(
            f"http://127.0.0.1:{port}/feishu/events", content=request.body, headers=request.headers, timeout=5
        )
        assert answer.status_code == 200
        deadline = time.monotonic() + 10
        while "--- reply to" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        printed = log.read_text()
        assert "--- reply to" in printed, printed
        reply = printed.split("--- reply to", 1)[1]
        assert reply.strip(), printed
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(log.read_text())
