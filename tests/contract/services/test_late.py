"""The late card's actions (services.late): scoped by the presser, refused on a closed card, replayed once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from scheduler.services.errors import ErrorCode
from scheduler.services.late import TaskAction, read_deadline, snooze_until, task_action_in
from store import Store
from store.enums import PreviewStatus, TaskStatus
from store.models import Job, Preview, Task
from tests.contract import factories as f
from tests.contract.services.builders import TZ, at, rows

ALICE = "ou_late_alice"


async def _late_preview(store: Store, now: datetime, **preview_kw: object) -> dict[str, str]:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now, ALICE))
        task = uow.tasks.add(
            f.task(
                now, user.id, deadline=at(10), urgency_threshold_at=at(8), estimate_minutes=120, quadrant=1
            )
        )
        trigger = uow.triggers.add(f.trigger(now, user.id, task_id=task.id, status="preview_generated"))
        kw = {"task_id": task.id, "decision": "propose", "expires_at": now + timedelta(hours=1)} | preview_kw
        preview = uow.previews.add(f.preview(now, user.id, trigger.id, **kw))
        await uow.commit()
        return {"user": user.id, "task": task.id, "preview": preview.id}


async def _act(
    store: Store, ids: dict[str, str], action: TaskAction, value: str, now: datetime, who: str = ALICE
):
    async with store.uow() as uow:
        outcome = await task_action_in(uow, ids["preview"], who, action, value, now)
        await uow.commit()
        return outcome


async def test_another_users_press_is_not_found_and_changes_nothing(store: Store, now: datetime) -> None:
    ids = await _late_preview(store, now)
    async with store.uow() as uow:
        uow.users.add(f.user(now, "ou_late_bob"))
        await uow.commit()
    outcome = await _act(store, ids, TaskAction.DROP, "", now, who="ou_late_bob")
    assert (outcome.status, outcome.code) == ("rejected", ErrorCode.NOT_FOUND)
    (task,) = await rows(store, Task, id=ids["task"])
    assert task.status == TaskStatus.OPEN


async def test_the_same_action_again_is_a_replay_and_another_is_refused(store: Store, now: datetime) -> None:
    ids = await _late_preview(store, now)
    first = await _act(store, ids, TaskAction.SNOOZE, "tomorrow", now)
    assert (first.status, first.at) == ("acted", datetime(2026, 12, 1, 8, tzinfo=TZ))
    (job,) = await rows(store, Job, task_id=ids["task"])
    assert job.trigger_at == datetime(2026, 12, 1, 8, tzinfo=TZ)
    again = await _act(store, ids, TaskAction.SNOOZE, "tomorrow", now + timedelta(minutes=1))
    assert (again.status, again.replayed, again.at) == ("acted", True, first.at)
    other = await _act(store, ids, TaskAction.DROP, "", now)
    assert (other.status, other.code) == ("rejected", ErrorCode.INVALID_STATE)
    (task,) = await rows(store, Task, id=ids["task"])
    assert (task.status, task.version) == (TaskStatus.OPEN, 2)  # one change, not two
    (preview,) = await rows(store, Preview, id=ids["preview"])
    assert preview.status == PreviewStatus.IGNORED


@pytest.mark.parametrize(
    ("setup", "code"),
    [
        ({"expires_at": "past"}, ErrorCode.EXPIRED),
        ({"task_status": TaskStatus.DONE}, ErrorCode.TARGET_COMPLETED),
        ({"status": PreviewStatus.APPLIED}, ErrorCode.ALREADY_APPLIED),
    ],
    ids=["expired", "task_done", "applied"],
)
async def test_a_closed_card_or_a_finished_task_is_refused(
    store: Store, now: datetime, setup: dict[str, object], code: ErrorCode
) -> None:
    kw: dict[str, object] = {}
    if setup.get("expires_at") == "past":
        kw["expires_at"] = now - timedelta(minutes=1)
    if "status" in setup:
        kw["status"] = setup["status"]
    ids = await _late_preview(store, now, **kw)
    if "task_status" in setup:
        async with store.uow() as uow:
            task = await uow.tasks.get(ids["task"])
            assert task is not None
            task.status = str(setup["task_status"])
            await uow.commit()
    outcome = await _act(store, ids, TaskAction.DEADLINE, "2026-12-01 18:00 +0800", now)
    assert (outcome.status, outcome.code) == ("rejected", code)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-12-01 18:00 +0800", datetime(2026, 12, 1, 18, tzinfo=TZ)),
        ("2026-12-01 18:00", datetime(2026, 12, 1, 18, tzinfo=TZ)),  # no offset: the user's zone
        ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 18, tzinfo=TZ)),
        ("2026-12-01 9:30 +08:00", datetime(2026, 12, 1, 9, 30, tzinfo=TZ)),
        ("2026-13-45 18:00", None),
        ("next week", None),
        ("", None),
    ],
)
def test_picked_deadlines_are_read_in_the_users_zone(raw: str, expected: datetime | None) -> None:
    assert read_deadline(raw, "Asia/Shanghai") == expected


def test_snooze_choices(now: datetime) -> None:
    user = f.user(now, ALICE, day_start="07:30")
    assert snooze_until("3h", user, now) == now + timedelta(hours=3)
    assert snooze_until("tomorrow", user, now) == datetime(2026, 12, 1, 7, 30, tzinfo=TZ)
    assert snooze_until("forever", user, now) is None
