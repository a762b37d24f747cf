"""`smartflow schedule`: a user's next 24 hours (weekly classes, blocks, free time), as text and JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from app.cli import main

TEAM: dict[str, Any] = {
    "users": [
        {
            "open_id": "ou_s1",
            "name": "Alice",
            "timezone": "Asia/Shanghai",
            "day_start": "08:00",
            "day_end": "22:30",
        },
        {"open_id": "ou_ny", "name": "Bob", "timezone": "America/New_York", "locale": "en"},
    ],
    "fixed_events": [
        {
            "user": "ou_s1",
            "key": "math",
            "title": "高等数学",
            "weekly": {"weekday": 1, "start": "08:00", "end": "09:35"},
            "from": "2026-09-07",
            "until": "2027-01-15",
        },
        # Outside its date range on 2026-11-30: must not appear.
        {
            "user": "ou_s1",
            "title": "暑期课",
            "weekly": {"weekday": 1, "start": "12:00", "end": "13:00"},
            "until": "2026-08-31",
        },
        {
            "user": "ou_s1",
            "title": "组会",
            "start": "2026-11-30T16:00:00+08:00",
            "end": "2026-11-30T17:00:00+08:00",
        },
        # Sunday 2026-11-01 is the day New York leaves daylight saving time.
        {"user": "ou_ny", "title": "Choir", "weekly": {"weekday": 7, "start": "09:00", "end": "10:00"}},
    ],
    "tasks": [
        {"user": "ou_s1", "key": "report", "title": "实验报告", "estimate_minutes": 90},
        {"user": "ou_ny", "key": "taxes", "title": "Taxes", "estimate_minutes": 60},
    ],
    "blocks": [
        {
            "user": "ou_s1",
            "key": "r1",
            "task": "report",
            "start": "2026-11-30T10:00:00+08:00",
            "end": "2026-11-30T11:00:00+08:00",
            "locked": True,
        },
        # Tomorrow after the window ends: must not appear.
        {
            "user": "ou_s1",
            "task": "report",
            "start": "2026-12-01T09:00:00+08:00",
            "end": "2026-12-01T10:00:00+08:00",
        },
    ],
}

EXPECTED_TEXT = """\
Alice (ou_s1) · Asia/Shanghai · 2026-11-30 08:30 → 2026-12-01 08:30
2026-11-30 Mon
  08:00–09:35   fixed  高等数学 (weekly)
  09:35–10:00   free   25 min
  10:00–11:00   block  实验报告 [locked]
  11:00–16:00   free   300 min
  16:00–17:00   fixed  组会
  17:00–22:30   free   330 min
2026-12-01 Tue
  08:00–08:30   free   30 min
free 685 min · blocks 60 min · fixed 125 min
"""


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"SMARTFLOW_DATABASE_URL": db_url})


@pytest.fixture
def team(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "team.yaml"
    path.write_text(yaml.safe_dump(TEAM, allow_unicode=True, sort_keys=False), encoding="utf-8")
    result = run(db_url, "import", str(path))
    assert result.exit_code == 0, result.output
    return db_url


def test_text_lists_classes_blocks_and_free_time(team: str) -> None:
    result = run(team, "schedule", "--user", "ou_s1", "--now", "2026-11-30T08:30:00+08:00")
    assert result.exit_code == 0, result.output
    assert result.stdout == EXPECTED_TEXT


def test_naive_now_is_the_users_local_time(team: str) -> None:
    result = run(team, "schedule", "--user", "ou_s1", "--now", "2026-11-30T08:30")
    assert result.stdout == EXPECTED_TEXT
    utc = run(team, "schedule", "--user", "ou_s1", "--now", "2026-11-30T00:30:00Z")
    assert utc.stdout == EXPECTED_TEXT


def _ids_replaced(view: dict[str, Any]) -> dict[str, Any]:
    for item in view["items"]:
        if "id" in item:
            assert re.fullmatch(r"[0-9a-f]{32}", item["id"])
            item["id"] = "<id>"
        if "task" in item:
            assert re.fullmatch(r"[0-9a-f]{32}", item["task"]["id"])
            item["task"]["id"] = "<task id>"
    return view


def test_json_has_the_documented_shape(team: str) -> None:
    result = run(team, "schedule", "--user", "ou_s1", "--now", "2026-11-30T08:30:00+08:00", "--json")
    assert result.exit_code == 0, result.output
    view = _ids_replaced(json.loads(result.stdout))
    assert view == {
        "schema": "smartflow.schedule.v1",
        "user": {"open_id": "ou_s1", "name": "Alice", "timezone": "Asia/Shanghai", "locale": "zh"},
        "now": "2026-11-30T08:30:00+08:00",
        "window": {"start": "2026-11-30T08:30:00+08:00", "end": "2026-12-01T08:30:00+08:00"},
        "day_windows": [
            {"start": "2026-11-30T08:30:00+08:00", "end": "2026-11-30T22:30:00+08:00"},
            {"start": "2026-12-01T08:00:00+08:00", "end": "2026-12-01T08:30:00+08:00"},
        ],
        "items": [
            {
                "kind": "fixed",
                "start": "2026-11-30T08:00:00+08:00",
                "end": "2026-11-30T09:35:00+08:00",
                "minutes": 95,
                "id": "<id>",
                "title": "高等数学",
                "recurrence": "weekly",
            },
            {
                "kind": "free",
                "start": "2026-11-30T09:35:00+08:00",
                "end": "2026-11-30T10:00:00+08:00",
                "minutes": 25,
            },
            {
                "kind": "block",
                "start": "2026-11-30T10:00:00+08:00",
                "end": "2026-11-30T11:00:00+08:00",
                "minutes": 60,
                "id": "<id>",
                "title": "实验报告",
                "task": {"id": "<task id>", "key": "report"},
                "locked": True,
                "source": "import",
            },
            {
                "kind": "free",
                "start": "2026-11-30T11:00:00+08:00",
                "end": "2026-11-30T16:00:00+08:00",
                "minutes": 300,
            },
            {
                "kind": "fixed",
                "start": "2026-11-30T16:00:00+08:00",
                "end": "2026-11-30T17:00:00+08:00",
                "minutes": 60,
                "id": "<id>",
                "title": "组会",
                "recurrence": "once",
            },
            {
                "kind": "free",
                "start": "2026-11-30T17:00:00+08:00",
                "end": "2026-11-30T22:30:00+08:00",
                "minutes": 330,
            },
            {
                "kind": "free",
                "start": "2026-12-01T08:00:00+08:00",
                "end": "2026-12-01T08:30:00+08:00",
                "minutes": 30,
            },
        ],
        "totals": {"fixed_minutes": 125, "block_minutes": 60, "free_minutes": 685},
    }


def test_now_with_seconds_keeps_free_time_inside_the_window(team: str) -> None:
    """The planner counts whole minutes from `now` rounded up; free time must still end at the window's
    end, and the free items must add up to the free total."""
    result = run(team, "schedule", "--user", "ou_s1", "--now", "2026-11-30T08:30:59+08:00", "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["window"]["end"] == "2026-12-01T08:30:59+08:00"
    free = [i for i in view["items"] if i["kind"] == "free"]
    assert all(view["window"]["start"] <= i["start"] and i["end"] <= view["window"]["end"] for i in free)
    assert free[-1] == {
        "kind": "free",
        "start": "2026-12-01T08:00:00+08:00",
        "end": "2026-12-01T08:30:59+08:00",
        "minutes": 30,
    }
    assert view["day_windows"][-1]["end"] == "2026-12-01T08:30:59+08:00"
    # free time starts when the class ends at 09:35 (not at the next 15-minute mark)
    assert sum(i["minutes"] for i in free) == view["totals"]["free_minutes"] == 685
    text = run(team, "schedule", "--user", "ou_s1", "--now", "2026-11-30T08:30:59+08:00").stdout
    assert "  08:00–08:30   free   30 min\nfree 685 min" in text


def test_weekly_event_across_the_daylight_saving_change(team: str) -> None:
    # Saturday noon EDT; the window ends Sunday 11:00 EST (24 real hours); Choir is Sunday 09:00 EST.
    result = run(team, "schedule", "--user", "ou_ny", "--now", "2026-10-31T12:00:00-04:00", "--json")
    assert result.exit_code == 0, result.output
    view = json.loads(result.stdout)
    assert view["window"] == {"start": "2026-10-31T12:00:00-04:00", "end": "2026-11-01T11:00:00-05:00"}
    fixed = [i for i in view["items"] if i["kind"] == "fixed"]
    assert [(i["title"], i["start"], i["end"]) for i in fixed] == [
        ("Choir", "2026-11-01T09:00:00-05:00", "2026-11-01T10:00:00-05:00")
    ]
    free = [(i["start"], i["end"]) for i in view["items"] if i["kind"] == "free"]
    assert free[0] == ("2026-10-31T12:00:00-04:00", "2026-10-31T22:30:00-04:00")  # default day window
    assert free[-1] == ("2026-11-01T10:00:00-05:00", "2026-11-01T11:00:00-05:00")


def test_unknown_user_is_one_line_error(team: str) -> None:
    result = run(team, "schedule", "--user", "ou_nobody", "--now", "2026-11-30T08:30")
    assert result.exit_code == 1
    assert result.stderr == "smartflow: no user with open_id 'ou_nobody'\n"


def test_bad_now_is_a_usage_error(team: str) -> None:
    result = run(team, "schedule", "--user", "ou_s1", "--now", "next tuesday")
    assert result.exit_code == 2
    assert "--now" in result.stderr


def test_unreachable_database_is_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Port 1 on loopback: connection refused at once.
    result = run("mysql+aiomysql://root@127.0.0.1:1/sf_none", "schedule", "--user", "ou_s1")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("smartflow: database error:")
