"""The chat use cases (scheduler.services tasks, prefs, agenda, feedback, admin): scoped by the sender, each
message recorded once. Another user's task id names nothing: not_found, and nothing changes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from scheduler.services import admin, agenda, feedback, inbound, prefs, tasks
from scheduler.services.inbound import InboundMessage, NewUser
from scheduler.services.tasks import Miss, TaskRef, Unpicked
from store import Store
from store.enums import TaskStatus
from store.models import Task
from tests.contract import factories as f
from tests.contract.services.builders import at, rows, seed, snapshot

ALICE, BOB, ADMIN = "ou_alice", "ou_bob", "ou_admin"
NEW = NewUser(timezone="Asia/Shanghai", locale="zh", day_start="08:00", day_end="22:30", daily_card_cap=8)
_seq = iter(range(1_000_000))


def msg(open_id: str, now: datetime, key: str | None = None) -> InboundMessage:
    return InboundMessage(key or f"om_{next(_seq)}", open_id, now, NEW, frozenset({ADMIN}))


async def _unchanged(store: Store) -> dict[str, Any]:
    """Every table but the bookkeeping a message always writes (its inbox row, the admin audit)."""
    snap = await snapshot(store)
    return {k: v for k, v in snap.items() if k not in ("inbox", "audit_log")}


@pytest.fixture
async def two_users(store: Store, now: datetime) -> tuple[str, str, str]:
    """Alice with nothing, Bob with an open task (with a block that just ran) and a done one."""
    await seed(store, now, tasks={}, open_id=ALICE, name="Alice")
    bob = await seed(
        store,
        now,
        tasks={"report": {"title": "实验报告"}, "essay": {"title": "Essay", "status": TaskStatus.DONE}},
        blocks={"b1": ("report", at(8), at(9))},
        open_id=BOB,
        name="Bob",
    )
    return bob.tasks["report"], bob.tasks["essay"], bob.blocks["b1"]


async def test_mark_done_with_another_users_task_id_is_not_found(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    bob_open, _, _ = two_users
    before = await _unchanged(store)

    handled = await tasks.mark_done(store, msg(ALICE, now), TaskRef(bob_open))

    assert handled is not None
    assert handled.result == Unpicked(Miss.NOT_FOUND, bob_open)
    assert await _unchanged(store) == before
    (task,) = await rows(store, Task, id=bob_open)
    assert task.status == TaskStatus.OPEN


async def test_reopen_with_another_users_task_id_is_not_found(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    _, bob_done, _ = two_users
    before = await _unchanged(store)

    handled = await tasks.reopen_task(store, msg(ALICE, now), TaskRef(bob_done))

    assert handled is not None
    assert handled.result == Unpicked(Miss.NOT_FOUND, bob_done)
    assert await _unchanged(store) == before
    (task,) = await rows(store, Task, id=bob_done)
    assert task.status == TaskStatus.DONE


async def test_done_and_reopen_change_the_senders_own_task(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    bob_open, _, _ = two_users

    done = await tasks.mark_done(store, msg(BOB, now), TaskRef(bob_open))
    reopened = await tasks.reopen_task(store, msg(BOB, now), TaskRef("实验报告"))

    assert isinstance(done and done.result, tasks.TaskChanged)
    assert isinstance(reopened and reopened.result, tasks.TaskChanged)
    (task,) = await rows(store, Task, id=bob_open)
    assert task.status == TaskStatus.OPEN


async def test_a_redelivered_add_adds_once(store: Store, now: datetime) -> None:
    message = msg(ALICE, now, key="om_same")

    first = await tasks.add_task(store, message, title="周报", minutes=30)
    again = await tasks.add_task(store, message, title="周报", minutes=30)

    assert first is not None
    assert isinstance(first.result, tasks.TaskAdded)
    assert again is None
    assert [x.title for x in await rows(store, Task)] == ["周报"]


async def test_open_tasks_and_today_show_only_the_senders(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    await tasks.add_task(store, msg(ALICE, now), title="周报", minutes=30)

    listed = await tasks.open_tasks(store, msg(ALICE, now))
    day = await agenda.today(store, msg(ALICE, now), 15)

    assert listed is not None
    assert [x.title for x in listed.result] == ["周报"]
    assert day is not None
    assert day.result.items == ()  # Bob's block is not Alice's


async def test_prefs_change_only_the_sender(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    handled = await prefs.update_prefs(store, msg(ALICE, now), prefs.PrefsChange(lang="en", daily_cap=3))

    assert handled is not None
    assert handled.result is True
    assert (handled.user.locale, handled.user.daily_card_cap) == ("en", 3)
    bob = await prefs.update_prefs(store, msg(BOB, now), prefs.PrefsChange())
    assert bob is not None
    assert (bob.user.locale, bob.user.daily_card_cap) == ("zh", 8)


async def test_unfinished_naming_another_users_task_makes_no_trigger(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    bob_open, _, _ = two_users
    before = await _unchanged(store)

    handled = await feedback.report_unfinished(store, msg(ALICE, now), bob_open, 30, "没做完", "om_x")

    assert handled is not None
    assert isinstance(handled.result, feedback.NothingToMakeUp)
    assert handled.result.found is feedback.Found.NO_TASK
    assert await _unchanged(store) == before


async def test_unfinished_of_the_senders_block_makes_one_trigger(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    first = await feedback.report_unfinished(store, msg(BOB, now, "om_r"), None, 30, "没做完", "om_r")
    again = await feedback.report_unfinished(store, msg(BOB, now, "om_r2"), None, 30, "没做完", "om_r")

    assert first is not None
    assert isinstance(first.result, feedback.Reported)
    assert first.result.trigger_id is not None
    assert again is not None
    assert again.result == feedback.Reported(None)  # the same Feishu message: no second trigger


async def test_the_done_task_of_another_users_trigger_is_not_told(store: Store, now: datetime) -> None:
    bob = await seed(store, now, tasks={"r": {"title": "实验报告", "status": TaskStatus.DONE}}, open_id=BOB)
    await seed(store, now, tasks={}, open_id=ALICE)
    async with store.uow() as uow:
        trigger = uow.triggers.add(f.trigger(now, bob.user_id, task_id=bob.tasks["r"]))
        await uow.commit()

    assert await feedback.done_task_of_trigger(store, BOB, trigger.id) == "实验报告"
    assert await feedback.done_task_of_trigger(store, ALICE, trigger.id) is None


@pytest.mark.parametrize("action", ["trigger", "dryrun"])
async def test_an_admin_naming_a_task_of_another_user_finds_nothing(
    store: Store, now: datetime, two_users: tuple[str, str, str], action: str
) -> None:
    bob_open, _, _ = two_users
    before = await _unchanged(store)
    call = admin.AdminCall(f"admin.{action}", (ALICE, bob_open))
    ref = admin.TargetRef(ALICE, TaskRef(bob_open))

    run = admin.trigger if action == "trigger" else admin.dry_run_target
    handled = await run(store, msg(ADMIN, now), call, ref)

    assert handled is not None
    assert handled.result == Unpicked(Miss.NOT_FOUND, bob_open)
    after = await _unchanged(store)
    assert {k: v for k, v in after.items() if k != "users"} == {
        k: v for k, v in before.items() if k != "users"
    }


async def test_an_admin_trigger_of_the_named_users_task(
    store: Store, now: datetime, two_users: tuple[str, str, str]
) -> None:
    bob_open, _, _ = two_users
    call = admin.AdminCall("admin.trigger", (BOB, bob_open))

    handled = await admin.trigger(store, msg(ADMIN, now), call, admin.TargetRef(BOB, TaskRef(bob_open)))
    refused = await admin.trigger(store, msg(ALICE, now), call, admin.TargetRef(BOB, TaskRef(bob_open)))

    assert handled is not None
    assert isinstance(handled.result, admin.TriggerCreated)
    assert handled.result.target.open_id == BOB
    assert refused is not None
    assert refused.result == admin.Refused()


async def test_a_failed_message_is_recorded_once(store: Store, now: datetime) -> None:
    message = msg(ALICE, now + timedelta(minutes=1), key="om_bug")

    failed = await inbound.record_failed(store, message)
    again = await inbound.acknowledge(store, message)

    assert failed is not None
    assert failed.user.open_id == ALICE
    assert again is None
