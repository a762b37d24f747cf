"""Dry run: the pipeline up to the candidates and the choice, writing nothing (service and CLI)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.cli_dryrun import dry_run_command
from llm.api import Choice, ChoiceRequest, FallbackChooser
from scheduler.planning import plan
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.jobs import process_due_jobs, sync_job
from scheduler.services.pipeline import Pipeline
from scheduler.services.views import dry_run_json, dry_run_text
from store import Store
from tests.contract.services.builders import Seeded, at, seed, snapshot

OPEN_ID = "ou_dry"
NOW = "2026-11-30T09:00:00+08:00"


class LastChooser:
    """An LLM stand-in behind the Chooser protocol: always picks the last candidate."""

    async def choose(self, request: ChoiceRequest) -> Choice:
        return Choice(
            selected_candidate_id=request.candidates[-1].id,
            explanation="model text",
            notification_summary="model summary",
            ask_user_question="",
            source="llm",
            model="m",
        )


async def populate(store: Store, now: datetime) -> Seeded:
    """A lived-in database: tasks, blocks, a class, a fired job, its trigger, preview and outbox row."""
    seeded = await seed(
        store,
        now,
        open_id=OPEN_ID,
        tasks={
            "report": {
                "quadrant": 2,
                "estimate_minutes": 90,
                "deadline": at(20),
                "urgency_threshold_at": at(8),
            },
            "read": {"quadrant": 2, "estimate_minutes": 60, "urgency_threshold_at": at(23)},
        },
        blocks={"A": ("read", at(8), at(8, 45))},
        fixed=[(at(10), at(12))],
    )
    async with store.uow() as uow:
        for task_id in seeded.tasks.values():
            task = await uow.tasks.get(task_id)
            assert task is not None
            await sync_job(uow, task, now)
        await uow.commit()
    (trigger_id,) = await process_due_jobs(store, now=now, worker_id="w", lease_seconds=60)
    await Pipeline(store, FallbackChooser()).run(trigger_id, now)
    return seeded


async def test_dry_run_leaves_every_table_unchanged(store: Store, now: datetime) -> None:
    seeded = await populate(store, now)
    before = await snapshot(store)
    assert before["previews"]
    assert before["outbox"]
    pipeline = Pipeline(store, FallbackChooser())
    reports = [
        await pipeline.dry_run(OPEN_ID, "report", now),
        await pipeline.dry_run(OPEN_ID, "read", at(15)),
        await pipeline.dry_run(OPEN_ID, "read", now, remaining_minutes=20),
        await pipeline.dry_run(OPEN_ID, None, now, block_id=seeded.blocks["A"], remaining_minutes=30),
        await pipeline.dry_run(OPEN_ID, None, at(15), remaining_minutes=30),  # "the one just now": none
        await Pipeline(store, LastChooser()).dry_run(OPEN_ID, "report", now),
    ]
    with pytest.raises(ServiceError):  # an unknown block is named, not planned around
        await pipeline.dry_run(OPEN_ID, None, now, block_id="no-such-block")
    assert [r.result.observation.decision.value for r in reports] == [
        "propose",
        "propose",
        "propose",
        "propose",
        "ask_user",
        "propose",
    ]
    assert await snapshot(store) == before


async def test_report_is_what_the_pipeline_would_decide(store: Store, now: datetime) -> None:
    await populate(store, now)
    report = await Pipeline(store, FallbackChooser()).dry_run(OPEN_ID, "report", now)
    assert report.result == plan(report.context)
    assert report.choice is not None
    assert report.choice.selected_candidate_id == report.result.candidates[0].id
    assert report.context.now == now
    llm = await Pipeline(store, LastChooser()).dry_run(OPEN_ID, "report", now)
    assert llm.choice is not None
    assert (llm.choice.source, llm.choice.selected_candidate_id) == ("llm", llm.result.candidates[-1].id)
    data = dry_run_json(llm)
    assert [c["chosen"] for c in data["candidates"]] == [False] * (len(data["candidates"]) - 1) + [True]
    assert "model text" in dry_run_text(llm)


async def test_naive_now_is_the_users_wall_clock(store: Store, now: datetime) -> None:
    await populate(store, now)
    pipeline = Pipeline(store, FallbackChooser())
    aware = await pipeline.dry_run(OPEN_ID, "report", now)
    naive = await pipeline.dry_run(OPEN_ID, "report", now.replace(tzinfo=None))
    assert naive.result == aware.result


async def test_unknown_user_or_task_is_refused(store: Store, now: datetime) -> None:
    await populate(store, now)
    pipeline = Pipeline(store, FallbackChooser())
    with pytest.raises(ServiceError) as info:
        await pipeline.dry_run("ou_nobody", "report", now)
    assert info.value.code == ErrorCode.USER_NOT_FOUND
    with pytest.raises(ServiceError) as info:
        await pipeline.dry_run(OPEN_ID, "nope", now)
    assert info.value.code == ErrorCode.TASK_NOT_FOUND


# --------------------------------------------------------------------------- the command


def _populated(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    async def work() -> dict[str, list[tuple[Any, ...]]]:
        store = Store(db_url)
        try:
            await populate(store, datetime.fromisoformat(NOW))
            return await snapshot(store)
        finally:
            await store.dispose()

    return asyncio.run(work())


def _snapshot(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    async def work() -> dict[str, list[tuple[Any, ...]]]:
        store = Store(db_url)
        try:
            return await snapshot(store)
        finally:
            await store.dispose()

    return asyncio.run(work())


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(dry_run_command, list(args), env={"SMARTFLOW_DATABASE_URL": db_url})


def test_command_prints_diagnosis_candidates_and_choice(db_url: str) -> None:
    before = _populated(db_url)
    result = run(db_url, "--user", OPEN_ID, "--task", "report", "--now", NOW)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "nothing was written" in out
    assert "decision propose" in out
    assert "score meets_deadline" in out
    assert "← chosen" in out
    assert "via fallback (not_configured)" in out
    assert "加入 实验报告 12:00–13:30" in out
    assert _snapshot(db_url) == before


def test_command_json_has_the_documented_shape(db_url: str) -> None:
    before = _populated(db_url)
    result = run(db_url, "--user", OPEN_ID, "--task", "report", "--now", NOW, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {
        "schema",
        "written",
        "user",
        "now",
        "window",
        "target",
        "decision",
        "decision_text",
        "metrics",
        "issues",
        "candidates",
        "choice",
        "base_version",
    }
    assert (data["schema"], data["written"], data["decision"]) == ("smartflow.dryrun.v1", False, "propose")
    assert data["now"] == NOW
    assert data["window"] == {"start": NOW, "end": "2026-12-01T09:00:00+08:00"}
    assert data["target"]["kind"] == "task"
    assert data["target"]["task"]["key"] == "report"
    assert data["metrics"]["effective_quadrant"] == 1
    assert 1 <= len(data["candidates"]) <= 3
    for n, c in enumerate(data["candidates"], 1):
        assert c["rank"] == n
        assert {s["name"] for s in c["score"]} == {
            "meets_deadline",
            "disruption",
            "preference_fit",
            "slack",
            "earliness",
        }
        assert all(s["text"] for s in c["score"])
        assert c["changes"][0]["kind"] == "add_block"
    assert next(c["chosen"] for c in data["candidates"]) is True
    assert data["choice"]["selected_candidate_id"] == data["candidates"][0]["id"]
    assert data["choice"]["source"] == "fallback"
    assert _snapshot(db_url) == before


def test_command_unfinished_block_with_minutes(db_url: str) -> None:
    _populated(db_url)
    # The read task's latest started block (08:00-08:45) with 20 minutes left.
    result = run(db_url, "--user", OPEN_ID, "--task", "read", "--minutes", "20", "--now", NOW, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["target"]["kind"] == "unfinished"
    assert data["target"]["remaining_minutes"] == 20
    assert data["target"]["block_id"] is not None
    adds = [ch for c in data["candidates"] for ch in c["changes"] if ch["kind"] == "add_block"]
    assert adds
    assert all(ch["makeup_for"] == data["target"]["block_id"] for ch in adds)


def test_command_minutes_for_a_task_whose_block_has_not_begun_is_refused(db_url: str) -> None:
    """SPEC 1: only a block that has begun can be left unfinished; a block ahead is not made up."""
    before = _populated(db_url)
    early = "2026-11-30T07:30:00+08:00"  # the read task's only block is 08:00-08:45
    ahead = run(db_url, "--user", OPEN_ID, "--task", "read", "--minutes", "20", "--now", early)
    unplanned = run(db_url, "--user", OPEN_ID, "--task", "report", "--minutes", "20", "--now", NOW)
    for result in (ahead, unplanned):
        assert result.exit_code != 0
        assert "has no block that has begun" in result.output
        assert "give --block" in result.output
        assert "Traceback" not in result.output
    assert _snapshot(db_url) == before


def test_command_naive_now_is_the_users_time_zone(db_url: str) -> None:
    _populated(db_url)
    offset = run(db_url, "--user", OPEN_ID, "--task", "report", "--now", NOW, "--json")
    naive = run(db_url, "--user", OPEN_ID, "--task", "report", "--now", "2026-11-30T09:00", "--json")
    assert naive.exit_code == 0, naive.output
    assert naive.stdout == offset.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "ou_nobody", "--task", "report"], "no user ou_nobody"),
        (["--user", OPEN_ID, "--task", "nope"], "has no task 'nope'"),
        (["--user", OPEN_ID, "--task", "report", "--block", "nope"], "no block nope"),
    ],
)
def test_command_refuses_unknown_names(db_url: str, args: list[str], message: str) -> None:
    before = _populated(db_url)
    result = run(db_url, *args, "--now", NOW)
    assert result.exit_code == 1
    assert result.stderr.startswith("smartflow: ")
    assert message in result.stderr
    assert _snapshot(db_url) == before


def test_command_rejects_a_malformed_now(db_url: str) -> None:
    result = run(db_url, "--user", OPEN_ID, "--task", "report", "--now", "tomorrow-ish")
    assert result.exit_code == 2
    assert "ISO 8601" in result.stderr


def test_command_window_of_a_later_now(db_url: str) -> None:
    _populated(db_url)
    later = (datetime.fromisoformat(NOW) + timedelta(hours=6)).isoformat()
    result = run(db_url, "--user", OPEN_ID, "--task", "report", "--now", later, "--json")
    data = json.loads(result.stdout)
    assert data["now"] == "2026-11-30T15:00:00+08:00"
    assert all(ch["start"] >= "2026-11-30T07:00:00+00:00" for c in data["candidates"] for ch in c["changes"])
