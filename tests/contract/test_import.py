"""`smartflow import` on SQLite and MariaDB: whole-file validation, idempotent re-import, in-place updates."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from app.cli import main
from store import migrate
from store.models import Base

ROOT = Path(__file__).resolve().parents[2]

BASE: dict[str, Any] = {
    "users": [
        {
            "open_id": "ou_a1",
            "name": "Alice",
            "timezone": "Asia/Shanghai",
            "locale": "zh",
            "day_start": "08:00",
            "day_end": "22:30",
            "admin": False,
        }
    ],
    "fixed_events": [
        {
            "user": "ou_a1",
            "title": "高等数学",
            "start": "2026-11-30T08:00:00+08:00",
            "end": "2026-11-30T09:35:00+08:00",
        },
        {
            "user": "ou_a1",
            "key": "english",
            "title": "English",
            "weekly": {"weekday": 2, "start": "10:15", "end": "11:55"},
            "from": "2026-09-01",
            "until": "2027-01-15",
        },
    ],
    "tasks": [
        {
            "user": "ou_a1",
            "key": "report",
            "title": "实验报告",
            "quadrant": 2,
            "estimate_minutes": 90,
            "deadline": "2026-11-30T18:00:00+08:00",
            "urgency_threshold_at": "2026-11-30T09:00:00+08:00",
            "status": "open",
        },
        {"user": "ou_a1", "key": "slides", "title": "Slides", "estimate_minutes": 60},
    ],
    "blocks": [
        {
            "user": "ou_a1",
            "task": "report",
            "start": "2026-11-30T19:00:00+08:00",
            "end": "2026-11-30T20:00:00+08:00",
            "locked": False,
        }
    ],
}


# --------------------------------------------------------------------------- helpers


def sync_url(db_url: str) -> sa.URL:
    url = make_url(db_url)
    return url.set(drivername="sqlite" if url.get_backend_name() == "sqlite" else "mysql+pymysql")


def snapshot(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, ordered by primary key: equal snapshots mean an unchanged database."""
    engine = sa.create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            out = {}
            for table in Base.metadata.sorted_tables:
                rows = conn.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
                out[table.name] = [tuple(r) for r in rows]
            return out
    finally:
        engine.dispose()


def rows(db_url: str, table: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            t = Base.metadata.tables[table]
            return [dict(r._mapping) for r in conn.execute(sa.select(t).order_by(t.c.id))]
    finally:
        engine.dispose()


def write(path: Path, doc: dict[str, Any]) -> Path:
    if path.suffix == ".json":
        path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    else:
        path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"SMARTFLOW_DATABASE_URL": db_url})


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no stray .env, and the default SQLite file would land here
    return tmp_path


@pytest.fixture
def imported(db_url: str, workdir: Path) -> str:
    """db_url after importing BASE once."""
    result = run(db_url, "import", str(write(workdir / "base.yaml", BASE)))
    assert result.exit_code == 0, result.output
    return db_url


# --------------------------------------------------------------------------- good files


def test_import_creates_every_record_in_utc(imported: str) -> None:
    users = rows(imported, "users")
    assert [(u["open_id"], u["name"], u["timezone"], u["role"]) for u in users] == [
        ("ou_a1", "Alice", "Asia/Shanghai", "user")
    ]
    tasks = {t["key"]: t for t in rows(imported, "tasks")}
    assert set(tasks) == {"report", "slides"}
    report, slides = tasks["report"], tasks["slides"]
    assert report["deadline"].replace(tzinfo=None) == datetime(2026, 11, 30, 10, 0)  # stored as UTC
    assert (slides["quadrant"], slides["status"], slides["deadline"]) == (2, "open", None)  # defaults
    events = sorted(rows(imported, "fixed_events"), key=lambda e: e["title"])
    weekly = events[0]
    assert (weekly["key"], weekly["weekday"], weekly["local_start"], weekly["local_end"]) == (
        "english",
        2,
        "10:15",
        "11:55",
    )
    (block,) = rows(imported, "blocks")
    assert (block["task_id"], block["source"], block["locked"]) == (report["id"], "import", False)
    assert block["start"].replace(tzinfo=None) == datetime(2026, 11, 30, 11, 0)


def test_reimport_changes_nothing(imported: str, workdir: Path) -> None:
    before = snapshot(imported)
    result = run(imported, "import", str(workdir / "base.yaml"))
    assert result.exit_code == 0, result.output
    assert snapshot(imported) == before  # same rows, same updated_at, same versions
    for section in ("users", "fixed_events", "tasks", "blocks"):
        line = next(ln for ln in result.stdout.splitlines() if ln.strip().startswith(section))
        assert line.split()[1:5] == ["created", "0", "updated", "0"], line


def test_same_content_as_json_changes_nothing(imported: str, workdir: Path) -> None:
    before = snapshot(imported)
    result = run(imported, "import", str(write(workdir / "base.json", BASE)))
    assert result.exit_code == 0, result.output
    assert snapshot(imported) == before


def test_edited_file_updates_in_place(imported: str, workdir: Path) -> None:
    before = {
        t: {r["id"]: r for r in rows(imported, t)} for t in ("users", "tasks", "fixed_events", "blocks")
    }
    doc = copy.deepcopy(BASE)
    doc["users"][0]["name"] = "Alice Li"
    doc["tasks"][0]["title"] = "实验报告（终稿）"
    doc["tasks"][0]["quadrant"] = 1
    doc["fixed_events"][1]["weekly"]["end"] = "12:00"
    doc["blocks"][0]["end"] = "2026-11-30T20:30:00+08:00"  # same (task, start): the same block
    result = run(imported, "import", str(write(workdir / "edited.yaml", doc)))
    assert result.exit_code == 0, result.output

    after = {t: {r["id"]: r for r in rows(imported, t)} for t in before}
    for table, old in before.items():
        assert set(after[table]) == set(old), f"{table}: rows were added or replaced"
    tasks = {r["key"]: r for r in after["tasks"].values()}
    old_tasks = {r["key"]: r for r in before["tasks"].values()}
    assert (tasks["report"]["title"], tasks["report"]["quadrant"], tasks["report"]["version"]) == (
        "实验报告（终稿）",
        1,
        2,
    )
    assert tasks["report"]["updated_at"] != old_tasks["report"]["updated_at"]
    assert tasks["report"]["created_at"] == old_tasks["report"]["created_at"]
    assert tasks["slides"] == old_tasks["slides"]  # untouched: no version bump, no updated_at churn
    (block,) = after["blocks"].values()
    assert block["end"].replace(tzinfo=None) == datetime(2026, 11, 30, 12, 30)
    assert block["version"] == 2
    english = next(e for e in after["fixed_events"].values() if e["key"] == "english")
    assert english["local_end"] == "12:00"
    one_off = next(e for e in after["fixed_events"].values() if e["key"] is None)
    assert one_off == before["fixed_events"][one_off["id"]]
    assert next(iter(after["users"].values()))["name"] == "Alice Li"


def test_records_may_refer_to_users_already_stored(imported: str, workdir: Path) -> None:
    doc = {
        "tasks": [{"user": "ou_a1", "key": "essay", "title": "Essay", "estimate_minutes": 45}],
        "blocks": [
            {
                "user": "ou_a1",
                "task": "slides",  # a task stored by the earlier import
                "key": "slides-1",
                "start": "2026-11-30T13:00:00",  # naive: the user's time zone (Asia/Shanghai)
                "end": "2026-11-30T14:00:00",
            }
        ],
    }
    result = run(imported, "import", str(write(workdir / "more.yaml", doc)))
    assert result.exit_code == 0, result.output
    blocks = {b["key"]: b for b in rows(imported, "blocks")}
    assert blocks["slides-1"]["start"].replace(tzinfo=None) == datetime(2026, 11, 30, 5, 0)
    assert {t["key"] for t in rows(imported, "tasks")} == {"report", "slides", "essay"}


def test_unquoted_yaml_times_are_clock_times_not_numbers(db_url: str, workdir: Path) -> None:
    text = (
        "users: [{open_id: ou_b1, timezone: America/New_York, day_start: 07:30, day_end: 21:00}]\n"
        "fixed_events:\n"
        "  - {user: ou_b1, title: Stand-up, weekly: {weekday: 1, start: 09:30, end: 09:45}}\n"
        "tasks:\n"
        "  - {user: ou_b1, key: t, title: T, estimate_minutes: 30, deadline: 2026-11-30T17:00:00-05:00}\n"
    )
    (workdir / "plain.yaml").write_text(text, encoding="utf-8")
    result = run(db_url, "import", "plain.yaml")
    assert result.exit_code == 0, result.output
    (user,) = rows(db_url, "users")
    assert (user["name"], user["locale"], user["day_start"], user["day_end"]) == (
        "ou_b1",
        "zh",
        "07:30",
        "21:00",
    )
    (event,) = rows(db_url, "fixed_events")
    assert (event["local_start"], event["local_end"]) == ("09:30", "09:45")


def test_large_files_report_progress_and_small_ones_do_not(db_url: str, workdir: Path) -> None:
    doc = {
        "users": [{"open_id": "ou_big"}],
        "tasks": [
            {"user": "ou_big", "key": f"t{i}", "title": f"Task {i}", "estimate_minutes": 30}
            for i in range(1200)
        ],
    }
    result = run(db_url, "import", str(write(workdir / "big.json", doc)))
    assert result.exit_code == 0, result.output
    assert "import: tasks 1000/1200" in result.stderr
    assert "import: tasks 1200/1200" in result.stderr
    assert len(rows(db_url, "tasks")) == 1200

    small = run(db_url, "import", str(write(workdir / "small.yaml", BASE)))
    assert small.exit_code == 0, small.output
    assert small.stderr == ""


# --------------------------------------------------------------------------- bad files

Mutation = Callable[[dict[str, Any]], None]


def _set(section: str, index: int, field: str, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc[section][index][field] = value

    return apply


def _append(section: str, record: dict[str, Any]) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc[section].append(record)

    return apply


def _block(task: str, start: str, end: str, **extra: Any) -> dict[str, Any]:
    return {"user": "ou_a1", "task": task, "start": start, "end": end, **extra}


def _replace_blocks(*blocks: dict[str, Any]) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc["blocks"] = list(blocks)

    return apply


def _in_new_york(mutation: Mutation) -> Mutation:
    """The mutation, for a user whose naive local times are New York's (daylight-saving changes)."""

    def apply(doc: dict[str, Any]) -> None:
        doc["users"][0]["timezone"] = "America/New_York"
        mutation(doc)

    return apply


def _weekday_8(doc: dict[str, Any]) -> None:
    doc["fixed_events"][1]["weekly"]["weekday"] = 8


def _drop_estimate(doc: dict[str, Any]) -> None:
    del doc["tasks"][1]["estimate_minutes"]


BAD_CASES: dict[str, tuple[Mutation, str, str]] = {
    "unknown user reference": (_set("tasks", 1, "user", "ou_zz"), "tasks[1].user", "unknown user 'ou_zz'"),
    "unknown task key": (_set("blocks", 0, "task", "thesis"), "blocks[0].task", "unknown task key 'thesis'"),
    "block end before start": (
        _set("blocks", 0, "end", "2026-11-30T18:30:00+08:00"),
        "blocks[0].end",
        "end must be after start",
    ),
    "event end before start": (
        _set("fixed_events", 0, "end", "2026-11-30T07:00:00+08:00"),
        "fixed_events[0].end",
        "end must be after start",
    ),
    "invalid time zone": (
        _set("users", 0, "timezone", "Asia/Beijing"),
        "users[0].timezone",
        "unknown time zone 'Asia/Beijing'",
    ),
    "quadrant 7": (_set("tasks", 0, "quadrant", 7), "tasks[0].quadrant", "less than or equal to 4"),
    "quadrant as a string": (_set("tasks", 0, "quadrant", "2"), "tasks[0].quadrant", "valid integer"),
    "estimate 0": (
        _set("tasks", 0, "estimate_minutes", 0),
        "tasks[0].estimate_minutes",
        "greater than or equal",
    ),
    "estimate over 480": (
        _set("tasks", 1, "estimate_minutes", 481),
        "tasks[1].estimate_minutes",
        "less than or equal to 480",
    ),
    "missing estimate": (_drop_estimate, "tasks[1].estimate_minutes", "required"),
    "extra field": (_set("tasks", 0, "priority", "high"), "tasks[0].priority", "unknown field"),
    "weekday 8": (_weekday_8, "fixed_events[1].weekly.weekday", "less than or equal to 7"),
    "duplicate task key": (
        _append("tasks", {"user": "ou_a1", "key": "report", "title": "Again", "estimate_minutes": 30}),
        "tasks[2].key",
        "duplicate task key 'report' (also tasks[0])",
    ),
    "block overlapping a one-off event": (
        _append("blocks", _block("slides", "2026-11-30T09:00:00+08:00", "2026-11-30T10:00:00+08:00")),
        "blocks[1].start",
        "overlaps fixed event '高等数学'",
    ),
    "block overlapping a weekly event": (
        _append("blocks", _block("slides", "2026-12-01T11:30:00+08:00", "2026-12-01T12:30:00+08:00")),
        "blocks[1].start",
        "overlaps fixed event 'English' at 2026-12-01 10:15",
    ),
    "block overlapping another block in the file": (
        _append("blocks", _block("slides", "2026-11-30T19:30:00+08:00", "2026-11-30T20:30:00+08:00")),
        "blocks[1].start",
        "overlaps blocks[0]",
    ),
    "a year out of range": (
        _set("tasks", 0, "deadline", "9999-12-31T23:00:00-05:00"),
        "tasks[0].deadline",
        "year 9999 is out of range",
    ),
    "a local time the clocks skip": (
        _in_new_york(_append("blocks", _block("slides", "2027-03-14T02:30:00", "2027-03-14T04:00:00"))),
        "blocks[1].start",
        "does not exist in America/New_York",
    ),
    "a local time that happens twice": (
        _in_new_york(_set("tasks", 0, "deadline", "2026-11-01T01:30:00")),
        "tasks[0].deadline",
        "happens twice in America/New_York",
    ),
    "block overlapping a stored block": (
        _replace_blocks(_block("slides", "2026-11-30T19:30:00+08:00", "2026-11-30T20:30:00+08:00", key="s1")),
        "blocks[0].start",
        "overlaps a stored block of task 'report'",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CASES))
def test_bad_record_is_named_and_nothing_is_written(imported: str, workdir: Path, case: str) -> None:
    mutate, where, message = BAD_CASES[case]
    doc = copy.deepcopy(BASE)
    doc["tasks"][1]["title"] = "Slides v2"  # a valid edit that must not be written either
    mutate(doc)
    before = snapshot(imported)
    result = run(imported, "import", str(write(workdir / "bad.yaml", doc)))
    assert result.exit_code == 1, result.output
    assert "nothing was written" in result.stderr
    assert f"{where} (line " in result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(imported) == before


def test_malformed_yaml_names_the_line(imported: str, workdir: Path) -> None:
    text = "users:\n  - {open_id: ou_a1, name: Alice}\ntasks:\n  - {user: ou_a1, key: x, title: [unclosed\n"
    (workdir / "broken.yaml").write_text(text, encoding="utf-8")
    before = snapshot(imported)
    result = run(imported, "import", "broken.yaml")
    assert result.exit_code == 1
    assert "file (line 5): malformed YAML" in result.stderr
    assert snapshot(imported) == before


def test_yaml_aliases_are_refused_without_blowing_up(imported: str, workdir: Path) -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    for name, text in (("self.yaml", "a: &a [*a]\n"), ("laughs.yaml", laughs)):
        (workdir / name).write_text(text, encoding="utf-8")
        before = snapshot(imported)
        result = run(imported, "import", name)
        assert result.exit_code == 1, result.output
        assert "YAML aliases (*name) are not allowed" in result.stderr
        assert snapshot(imported) == before


def test_a_key_repeated_in_json_is_refused(imported: str, workdir: Path) -> None:
    text = '{"users": [{"open_id": "ou_a1", "name": "Alice", "name": "Eve"}]}'
    (workdir / "dup.json").write_text(text, encoding="utf-8")
    before = snapshot(imported)
    result = run(imported, "import", "dup.json")
    assert result.exit_code == 1
    assert "key 'name' given twice" in result.stderr
    assert snapshot(imported) == before


def test_malformed_json_names_the_line(imported: str, workdir: Path) -> None:
    (workdir / "broken.json").write_text('{"users": [\n  {"open_id": "ou_a1",}\n]}', encoding="utf-8")
    before = snapshot(imported)
    result = run(imported, "import", "broken.json")
    assert result.exit_code == 1
    assert "file (line 2): malformed JSON" in result.stderr
    assert snapshot(imported) == before


def test_every_problem_of_a_file_is_listed(imported: str, workdir: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["users"][0]["timezone"] = "Nowhere/Land"
    doc["tasks"][0]["quadrant"] = 0
    doc["blocks"][0]["task"] = "missing"
    doc["fixed_events"][0]["color"] = "red"
    before = snapshot(imported)
    result = run(imported, "import", str(write(workdir / "bad.json", doc)))
    assert result.exit_code == 1
    # Shape and cross-record problems are reported together, in one round.
    for where in ("users[0].timezone", "tasks[0].quadrant", "fixed_events[0].color", "blocks[0].task"):
        assert where in result.stderr
    assert snapshot(imported) == before


def test_json_problems_name_their_line(imported: str, workdir: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["tasks"][1]["estimate_minutes"] = 30.0
    doc["blocks"][0]["task"] = "missing"
    path = workdir / "bad.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    text = path.read_text(encoding="utf-8").splitlines()
    estimate = next(n for n, line in enumerate(text, 1) if '"estimate_minutes": 30.0' in line)
    task = next(n for n, line in enumerate(text, 1) if '"task": "missing"' in line)
    result = run(imported, "import", str(path))
    assert result.exit_code == 1
    assert f"tasks[1].estimate_minutes (line {estimate}):" in result.stderr
    assert f"blocks[0].task (line {task}): unknown task key 'missing'" in result.stderr


def test_a_record_with_a_bad_shape_is_not_reported_again_as_an_unknown_reference(
    db_url: str, workdir: Path
) -> None:
    doc = copy.deepcopy(BASE)
    doc["users"][0]["timezone"] = "Nowhere/Land"  # every other record refers to this user
    doc["tasks"][0]["quadrant"] = 9  # the block refers to this task
    result = run(db_url, "import", str(write(workdir / "bad.yaml", doc)))
    assert result.exit_code == 1
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 2, result.stderr
    assert "unknown user" not in result.stderr
    assert "unknown task" not in result.stderr


def _column_length(table: str, column: str) -> int:
    length = Base.metadata.tables[table].c[column].type.length  # type: ignore[attr-defined]
    assert isinstance(length, int)
    return length


# (section, index, field, table, column): every string the import stores in a sized column
LENGTH_CASES = [
    ("users", 0, "name", "users", "name"),
    ("fixed_events", 0, "title", "fixed_events", "title"),
    ("fixed_events", 1, "key", "fixed_events", "key"),
    ("tasks", 1, "title", "tasks", "title"),
    ("blocks", 0, "key", "blocks", "key"),
]


@pytest.mark.parametrize(("section", "index", "field", "table", "column"), LENGTH_CASES)
def test_values_are_checked_against_the_column_sizes_on_every_backend(
    db_url: str, workdir: Path, section: str, index: int, field: str, table: str, column: str
) -> None:
    """MariaDB refuses a value longer than its column where SQLite stores it: the import checks the
    length itself, so both backends accept exactly the same files (counted in characters, not bytes)."""
    limit = _column_length(table, column)
    doc = copy.deepcopy(BASE)
    doc[section][index][field] = "名" * (limit + 1)
    before = snapshot(db_url)
    result = run(db_url, "import", str(write(workdir / "long.yaml", doc)))
    assert result.exit_code == 1, result.output
    assert f"{section}[{index}].{field} (line " in result.stderr
    assert f"at most {limit} characters (got {limit + 1})" in result.stderr
    assert "Traceback" not in result.output
    assert snapshot(db_url) == before

    doc[section][index][field] = "名" * limit
    result = run(db_url, "import", str(write(workdir / "fits.yaml", doc)))
    assert result.exit_code == 0, result.output
    assert "名" * limit in [r[column] for r in rows(db_url, table)]


def test_an_open_id_longer_than_its_column_is_refused(db_url: str, workdir: Path) -> None:
    limit = _column_length("users", "open_id")
    doc = {"users": [{"open_id": "o" * (limit + 1)}]}
    result = run(db_url, "import", str(write(workdir / "long.json", doc)))
    assert result.exit_code == 1
    assert f"users[0].open_id (line 1): at most {limit} characters" in result.stderr


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("deep.json", '{"users": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        ("deep40.json", '{"users": ' + "[" * 40 + "]" * 40 + "}"),
        ("deep990.yaml", "users: " + "[" * 990 + "]" * 990 + "\n"),
        ("deep_block.yaml", "".join("  " * i + "- \n" for i in range(200)) + "  " * 200 + "- x\n"),
    ],
)
def test_deeply_nested_files_are_refused_without_a_traceback(
    db_url: str, workdir: Path, name: str, text: str
) -> None:
    (workdir / name).write_text(text, encoding="utf-8")
    result = run(db_url, "import", name)
    assert result.exit_code == 1, result.output
    assert "nested too deeply" in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("empty.yaml", ""),
        ("blank.yaml", "\n  \n"),
        ("comments.yaml", "# users: none yet\n"),
        ("empty.json", " \n"),
    ],
)
def test_an_empty_file_is_refused(db_url: str, workdir: Path, name: str, text: str) -> None:
    (workdir / name).write_text(text, encoding="utf-8")
    result = run(db_url, "import", name)
    assert result.exit_code == 1, result.output
    assert "file: the file is empty: nothing to import" in result.stderr
    assert rows(db_url, "users") == []


def test_empty_sections_are_empty_lists_but_a_file_needs_a_record(db_url: str, workdir: Path) -> None:
    (workdir / "headers.yaml").write_text("users:\nfixed_events:\ntasks:\nblocks:\n", encoding="utf-8")
    result = run(db_url, "import", "headers.yaml")
    assert result.exit_code == 1, result.output
    assert "nothing to import" in result.stderr
    assert "valid list" not in result.stderr

    text = "users:\n  - {open_id: ou_n1}\nfixed_events:\ntasks: []\nblocks:\n"
    (workdir / "some.yaml").write_text(text, encoding="utf-8")
    result = run(db_url, "import", "some.yaml")
    assert result.exit_code == 0, result.output
    assert [u["open_id"] for u in rows(db_url, "users")] == ["ou_n1"]


def test_missing_file_is_one_line_error(db_url: str, workdir: Path) -> None:
    result = run(db_url, "import", "nope.yaml")
    assert result.exit_code == 1
    assert "cannot read nope.yaml" in result.stderr
    assert "Traceback" not in result.output


def test_end_to_end_on_the_embedded_default(tmp_path: Path) -> None:
    """The real command, no SMARTFLOW_DATABASE_URL: the SQLite file is created in the working directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTFLOW_")}
    sample = str(ROOT / "examples" / "team.yaml")

    def smartflow(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "app.cli", *args]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, check=False)

    first = smartflow("import", sample)
    assert first.returncode == 0, first.stderr
    assert "tasks         created     12" in first.stdout
    assert (tmp_path / "smartflow.db").exists()
    second = smartflow("import", sample)
    assert "tasks         created      0  updated      0  unchanged     12" in second.stdout
    shown = smartflow("schedule", "--user", "ou_bob", "--now", "2026-11-30T07:00:00-05:00", "--json")
    assert shown.returncode == 0, shown.stderr
    view = json.loads(shown.stdout)
    titles = [i.get("title") for i in view["items"] if i["kind"] != "free"]
    assert titles == ["Stand-up", "Review PR #482", "Design review", "Q1 planning doc"]
    assert datetime.fromisoformat(view["now"]).astimezone(UTC) == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_new_fixed_event_over_a_stored_upcoming_block_is_rejected(imported: str, workdir: Path) -> None:
    # Far-future and far-past dates keep this independent of the wall clock the CLI reads.
    stored = {
        "blocks": [
            _block("slides", "2099-01-05T10:00:00+08:00", "2099-01-05T11:00:00+08:00", key="future"),
            _block("slides", "2001-01-01T10:00:00+08:00", "2001-01-01T11:00:00+08:00", key="history"),
        ]
    }
    assert run(imported, "import", str(write(workdir / "stored.yaml", stored))).exit_code == 0
    before = snapshot(imported)

    clash = copy.deepcopy(BASE)
    clash["fixed_events"].append(
        {
            "user": "ou_a1",
            "title": "Exam",
            "start": "2099-01-05T10:30:00+08:00",
            "end": "2099-01-05T11:30:00+08:00",
        }
    )
    result = run(imported, "import", str(write(workdir / "clash.yaml", clash)))
    assert result.exit_code == 1
    assert "fixed_events[2].start" in result.stderr
    assert "overlaps a stored block of task 'slides' at 2099-01-05 10:00" in result.stderr
    assert snapshot(imported) == before

    # A timetable over blocks that are already history is fine: past blocks are assumed done.
    past = copy.deepcopy(BASE)
    past["fixed_events"].append(
        {
            "user": "ou_a1",
            "title": "Old class",
            "weekly": {"weekday": 1, "start": "09:00", "end": "12:00"},
            "until": "2001-12-31",
        }
    )
    result = run(imported, "import", str(write(workdir / "past.yaml", past)))
    assert result.exit_code == 0, result.output


def test_db_upgrade_creates_the_schema_and_reports_failures_in_one_line(workdir: Path) -> None:
    url = f"sqlite+aiosqlite:///{workdir / 'fresh' / 'sf.db'}"
    (workdir / "fresh").mkdir()
    result = run(url, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"database schema is at {migrate.head_revision()}\n"
    tables = set(sa.inspect(sa.create_engine(sync_url(url))).get_table_names())
    assert {"users", "tasks", "fixed_events", "blocks", "alembic_version"} <= tables
    assert run(url, "db", "upgrade").exit_code == 0  # idempotent

    down = run("mysql+aiomysql://root@127.0.0.1:1/sf_none", "db", "upgrade")
    assert down.exit_code == 1
    assert len(down.stderr.strip().splitlines()) == 1
    assert down.stderr.startswith("smartflow: database error:")


def test_a_new_time_zone_that_moves_a_class_onto_a_stored_block_is_refused(
    imported: str, workdir: Path
) -> None:
    first = {
        "users": [{"open_id": "ou_tz", "name": "T", "timezone": "America/New_York"}],
        "fixed_events": [
            {
                "user": "ou_tz", "key": "class", "title": "class",
                "weekly": {"weekday": 2, "start": "10:00", "end": "11:00"},
            }
        ],
        "tasks": [{"user": "ou_tz", "key": "k", "title": "K", "estimate_minutes": 60}],
        "blocks": [
            {
                "user": "ou_tz", "task": "k", "key": "b1",
                "start": "2030-12-02T21:00:00-05:00", "end": "2030-12-02T22:00:00-05:00",
            }
        ],
    }  # fmt: skip
    assert run(imported, "import", str(write(workdir / "tz1.yaml", first))).exit_code == 0
    before = snapshot(imported)
    moved = {"users": [{"open_id": "ou_tz", "name": "T", "timezone": "Asia/Shanghai"}]}
    result = run(imported, "import", str(write(workdir / "tz2.yaml", moved)))
    assert result.exit_code == 1
    assert "users[0].timezone (line" in result.stderr
    assert "fixed event 'class' would overlap a stored block of task 'k'" in result.stderr
    assert snapshot(imported) == before


def test_an_import_that_changes_a_schedule_bumps_its_schedule_version(imported: str, workdir: Path) -> None:
    """Previews planned before the change are then refused as stale (base_version_changed)."""
    (before,) = rows(imported, "users")
    result = run(imported, "import", str(workdir / "base.yaml"))  # unchanged: nothing is stale
    assert result.exit_code == 0, result.output
    assert rows(imported, "users")[0]["schedule_version"] == before["schedule_version"]

    doc = copy.deepcopy(BASE)
    doc["blocks"][0]["end"] = "2026-11-30T20:30:00+08:00"
    result = run(imported, "import", str(write(workdir / "moved.yaml", doc)))
    assert result.exit_code == 0, result.output
    assert rows(imported, "users")[0]["schedule_version"] == before["schedule_version"] + 1


def test_a_block_longer_than_a_day_is_refused(imported: str, workdir: Path) -> None:
    doc = copy.deepcopy(BASE)
    doc["blocks"][0]["end"] = "2026-12-02T20:30:00+08:00"
    before = snapshot(imported)
    result = run(imported, "import", str(write(workdir / "long.yaml", doc)))
    assert result.exit_code != 0
    assert "at most 24 hours" in result.output
    assert "blocks[0].end" in result.output or "blocks" in result.output
    assert snapshot(imported) == before


def test_an_unquoted_impossible_date_is_listed_with_its_line(db_url: str, workdir: Path) -> None:
    path = workdir / "bad-date.yaml"
    path.write_text(
        "users:\n  - {open_id: ou_a, name: A}\n"
        "tasks:\n  - {user: ou_a, key: t, title: x, quadrant: 2, estimate_minutes: 30,\n"
        "     deadline: 2026-13-45}\n",
        encoding="utf-8",
    )
    before = snapshot(db_url)
    result = run(db_url, "import", str(path))
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert "tasks[0].deadline (line 5)" in result.output
    assert snapshot(db_url) == before
