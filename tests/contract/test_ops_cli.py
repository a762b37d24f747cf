"""Operator commands: stats, jobs, previews, notifications (waiting and dead), retry; text and --json."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner, Result

from app.cli import main
from store import Store
from store.enums import JobReason, JobStatus, NotificationKind, NotificationStatus
from store.models import Job
from tests.contract import factories as f


@pytest.fixture
def seeded(db_url: str, now: datetime) -> dict[str, str]:
    # the CLI runs its own event loop (asyncio.run): the tests are synchronous and seed in a loop of their own
    return asyncio.run(_seed(db_url, now))


async def _seed(db_url: str, now: datetime) -> dict[str, str]:
    store = Store(db_url)
    try:
        return await _rows(store, now)
    finally:
        await store.dispose()


async def _rows(store: Store, now: datetime) -> dict[str, str]:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now, "ou_ops"))
        task = uow.tasks.add(f.task(now, user.id, key="report"))
        await uow.flush()
        job = uow.jobs.add(
            Job(
                task_id=task.id,
                user_id=user.id,
                trigger_at=now + timedelta(hours=2),
                status=JobStatus.PENDING,
                created_at=now,
                updated_at=now,
            )
        )
        dead, _ = await uow.notifications.insert_if_absent(
            "n-dead", user_id=user.id, kind=NotificationKind.CARD, payload={}, now=now
        )
        dead.status = NotificationStatus.DEAD
        dead.attempts = 5
        dead.last_error_code = "230001"
        sent, _ = await uow.notifications.insert_if_absent(
            "n-sent", user_id=user.id, kind=NotificationKind.CARD, payload={}, now=now
        )
        sent.status = NotificationStatus.SENT
        await uow.commit()
        return {"job": job.id, "dead": dead.id, "sent": sent.id}


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"SMARTFLOW_DATABASE_URL": db_url})


def as_json(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    assert data["schema"] == "smartflow.ops.v1"
    return data


def test_stats_and_jobs(db_url: str, seeded: dict[str, str]) -> None:
    stats = as_json(run(db_url, "stats", "--json"))["counts"]
    assert stats["users"] == {"total": 1}
    assert stats["jobs"] == {"pending": 1}
    assert stats["notifications"] == {"dead": 1, "sent": 1}
    jobs = as_json(run(db_url, "jobs", "--json"))["rows"]
    assert [j["id"] for j in jobs] == [seeded["job"]]
    assert seeded["job"] in run(db_url, "jobs").output


async def _skipped_job(db_url: str, now: datetime) -> str:
    store = Store(db_url)
    try:
        async with store.uow() as uow:
            user = await uow.users.get_by_open_id("ou_ops")
            assert user is not None
            task = uow.tasks.add(f.task(now, user.id, key="done-one"))
            await uow.flush()
            job = uow.jobs.add(
                Job(
                    task_id=task.id,
                    user_id=user.id,
                    trigger_at=now - timedelta(hours=1),
                    status=JobStatus.SKIPPED,
                    reason=JobReason.TASK_DONE,
                    created_at=now,
                    updated_at=now,
                )
            )
            await uow.commit()
            return job.id
    finally:
        await store.dispose()


def test_jobs_show_why_a_job_was_skipped(db_url: str, seeded: dict[str, str], now: datetime) -> None:
    skipped = asyncio.run(_skipped_job(db_url, now))
    pending = as_json(run(db_url, "jobs", "--json"))["rows"]
    assert [(j["id"], j["status"], j["reason"]) for j in pending] == [(seeded["job"], "pending", None)]
    closed = as_json(run(db_url, "jobs", "--skipped", "--json"))["rows"]
    assert [(j["id"], j["status"], j["reason"]) for j in closed] == [(skipped, "skipped", "task_done")]
    text = run(db_url, "jobs", "--skipped")
    assert text.exit_code == 0, text.output
    assert f"{skipped}  " in text.output
    assert "skipped/task_done" in text.output


def test_dead_notifications_are_listed_and_can_be_retried_once(db_url: str, seeded: dict[str, str]) -> None:
    dead = as_json(run(db_url, "notifications", "--dead", "--json"))["rows"]
    assert [(n["id"], n["last_error_code"]) for n in dead] == [(seeded["dead"], "230001")]
    assert as_json(run(db_url, "notifications", "--json"))["rows"] == []

    retried = run(db_url, "retry", seeded["dead"])
    assert retried.exit_code == 0, retried.output
    waiting = as_json(run(db_url, "notifications", "--json"))["rows"]
    assert [(n["id"], n["status"], n["attempts"]) for n in waiting] == [(seeded["dead"], "pending", 0)]

    again = run(db_url, "retry", seeded["dead"])
    assert again.exit_code != 0
    assert "only dead, failed or deferred" in again.output


def test_retry_refuses_unknown_and_sent_notifications(db_url: str, seeded: dict[str, str]) -> None:
    before = as_json(run(db_url, "stats", "--json"))
    unknown = run(db_url, "retry", "nope")
    assert unknown.exit_code != 0
    assert "no notification nope" in unknown.output
    sent = run(db_url, "retry", seeded["sent"])
    assert sent.exit_code != 0
    assert as_json(run(db_url, "stats", "--json")) == before


def test_previews_of_an_unknown_user_are_empty(db_url: str, seeded: dict[str, str]) -> None:
    unknown = run(db_url, "previews", "--user", "ou_nobody", "--json")
    assert unknown.exit_code == 1
    assert "no user ou_nobody" in unknown.output
    assert run(db_url, "previews").output.strip() == "no previews"
