"""Feishu Tasks as a source, through the real HTTP app, the fake Feishu and a real worker: a connected user's
Feishu tasks appear as theirs after one sync (every page read); one completed in Feishu is done here at the
next sync, its pending job canceled and its ready preview expired; `/done` here completes it in Feishu once
(a 5xx retried); a field edited here and in Feishu keeps ours and tells the user once; a user without a
connection costs no Feishu Tasks call."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from app.wiring import make_worker
from store.enums import TaskStatus
from tests.fakes.fake_feishu import FakeFeishu, Fault
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, NOW, TZ, Harness, buttons, open_harness
from tests.scenario.test_http_connect import KEY, PUBLIC_URL, connected

ALL = (TaskStatus.OPEN, TaskStatus.DONE, TaskStatus.CANCELED)
CONFLICT_ZH = "在飞书里改成了"


@pytest.fixture
async def h(db_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    async with open_harness(db_url, fake_server, public_url=PUBLIC_URL, secret_key=KEY) as harness:
        yield harness


def page_size(h: Harness, size: int) -> None:
    sync = h.components.task_sync
    assert sync is not None
    sync.config = replace(sync.config, page_size=size)


@dataclass(frozen=True)
class Synced:
    id: str
    title: str
    status: str
    estimate_minutes: int
    deadline: datetime | None


async def tasks_of(h: Harness, user_id: str) -> dict[str, Synced]:
    """The user's tasks by Feishu guid (synced ones only), as they are now."""
    async with h.store.uow(readonly=True) as uow:
        found = await uow.tasks.for_user(user_id, statuses=ALL)
        return {
            t.feishu_task_guid: Synced(t.id, t.title, t.status, t.estimate_minutes, t.deadline)
            for t in found
            if t.feishu_task_guid
        }


async def rows(h: Harness, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with h.store.uow(readonly=True) as uow:
        result = await uow.session.execute(sa.text(sql), params)
        return [dict(r) for r in result.mappings().all()]


async def next_sync(h: Harness, minutes: float = 5) -> None:
    h.clock.advance(minutes=minutes)
    await h.run_worker()


async def test_a_connected_users_feishu_tasks_appear_as_theirs_every_page_read(h: Harness) -> None:
    alice = await connected(h, ALICE)
    due = NOW + timedelta(days=3)
    guids = [h.fake.tasks.add(ALICE, f"任务{n}", due=due + timedelta(hours=n)) for n in range(5)]
    h.fake.tasks.add(ALICE, "早就做完了", completed_at=NOW - timedelta(days=1))
    all_day = h.fake.tasks.add(ALICE, "全天任务", due=(NOW + timedelta(days=2)).replace(hour=8), all_day=True)
    h.fake.tasks.add(BOB, "not alice's")
    page_size(h, 2)

    await h.run_worker()

    mine = await tasks_of(h, alice)
    assert set(mine) == {*guids, all_day}  # the one completed in Feishu is not brought in
    for n, guid in enumerate(guids):
        task = mine[guid]
        assert (task.title, task.status, task.estimate_minutes) == (f"任务{n}", "open", 30)
        assert task.deadline == due + timedelta(hours=n)
    # an all-day due is due at the end of that day in the user's time zone
    assert mine[all_day].deadline == (NOW + timedelta(days=2)).replace(hour=23, minute=59).astimezone(UTC)
    assert [token for who, token in h.fake.tasks.lists if who == ALICE] == ["", "pt-2", "pt-4", "pt-6"]
    assert all(who == ALICE for who, _ in h.fake.tasks.lists)
    jobs = await rows(h, "SELECT task_id, status FROM jobs WHERE user_id = :u", u=alice)
    assert {j["task_id"] for j in jobs} == {t.id for t in mine.values()}  # each armed like any task

    await next_sync(h)  # read again: nothing added twice
    assert set(await tasks_of(h, alice)) == set(mine)
    assert await h.count("tasks", user_id=alice) == len(mine)


async def test_completed_in_feishu_cancels_the_job_and_expires_the_ready_preview(h: Harness) -> None:
    alice = await connected(h, ALICE)
    urgent = h.fake.tasks.add(ALICE, "交实验报告", due=NOW + timedelta(hours=30))
    later = h.fake.tasks.add(ALICE, "读论文", due=NOW + timedelta(days=5))
    await h.run_worker()  # synced: both open, their jobs pending
    # Feishu holds no importance: the user marks the report important here; a day before its deadline
    # its job fires and a card with a ready preview goes out
    await h.message(ALICE, "/edit 交实验报告 !")
    await h.settle()
    await next_sync(h, 6 * 60)
    assert h.cards_to(ALICE)

    mine = await tasks_of(h, alice)
    (preview,) = await rows(h, "SELECT id, status FROM previews WHERE task_id = :t", t=mine[urgent].id)
    assert preview["status"] == "ready"
    (job,) = await rows(h, "SELECT status FROM jobs WHERE task_id = :t", t=mine[later].id)
    assert job["status"] == "pending"

    h.fake.tasks.complete(urgent, NOW)
    h.fake.tasks.complete(later, NOW)
    await next_sync(h)

    mine = await tasks_of(h, alice)
    assert (mine[urgent].status, mine[later].status) == ("done", "done")
    (preview,) = await rows(h, "SELECT status FROM previews WHERE task_id = :t", t=mine[urgent].id)
    assert preview["status"] == "expired"
    (job,) = await rows(h, "SELECT status, reason FROM jobs WHERE task_id = :t", t=mine[later].id)
    assert job["status"] == "canceled"
    assert h.fake.tasks.patches == []  # done there already: nothing written back


async def test_done_here_completes_it_in_feishu_once_after_a_5xx(h: Harness) -> None:
    alice = await connected(h, ALICE)
    guid = h.fake.tasks.add(ALICE, "写周报", due=NOW + timedelta(days=3))
    await h.run_worker()
    h.fake.inject("task_patch", Fault(status=502, msg="bad gateway"))

    await h.message(ALICE, "/done 写周报")
    await h.settle()
    assert "写周报" in h.texts_to(ALICE)[-1]
    await h.run_worker()  # the effect's first attempt: 502, retried later
    assert not h.fake.tasks.task(guid).completed
    for _ in range(6):
        await next_sync(h, 10)

    assert h.fake.tasks.task(guid).completed
    (patch,) = h.fake.tasks.patches
    assert patch.body["update_fields"] == ["completed_at"]
    assert h.fake.requests("task_patch") == 2
    sql = "SELECT status, attempts FROM notifications WHERE kind = 'effect' AND payload LIKE :name"
    (effect,) = await rows(h, sql, name='%"task_complete"%')
    assert (effect["status"], effect["attempts"]) == ("sent", 2)
    assert (await tasks_of(h, alice))[guid].status == "done"


async def test_a_field_edited_here_and_in_feishu_keeps_ours_and_says_so_once(h: Harness) -> None:
    alice = await connected(h, ALICE)
    guid = h.fake.tasks.add(ALICE, "周报", due=NOW + timedelta(days=3))
    untouched = h.fake.tasks.add(ALICE, "买菜", due=NOW + timedelta(days=3))
    await h.run_worker()
    await h.message(ALICE, "/edit 周报 by 12-04 18:00")  # the deadline edited here, through chat
    await h.settle()
    ours_due = NOW.replace(month=12, day=4, hour=18)
    async with h.store.uow() as uow:  # the title edited here (no chat command renames a task yet)
        task = (await uow.tasksync.by_guids(alice, [guid]))[guid]
        assert task.deadline == ours_due
        task.title, task.version = "周报（终稿）", task.version + 1
        await uow.commit()
    h.fake.tasks.edit(guid, summary="周报 v2", due=NOW + timedelta(days=5))
    h.fake.tasks.edit(untouched, summary="买菜和水果")  # edited there only: taken

    await next_sync(h)

    mine = await tasks_of(h, alice)
    assert (mine[guid].title, mine[guid].deadline) == ("周报（终稿）", ours_due)
    assert mine[untouched].title == "买菜和水果"
    told = [x for x in h.texts_to(ALICE) if CONFLICT_ZH in x]
    assert len(told) == 2
    assert any("周报 v2" in x and "周报（终稿）" in x for x in told)
    assert any("2026-12-05 09:00" in x and "2026-12-04 18:00" in x for x in told)  # in the user's zone
    audit = await rows(h, "SELECT target, outcome FROM audit_log WHERE action = 'task.sync_conflict'")
    assert audit == [{"target": mine[guid].id, "outcome": "kept_ours"}] * 2

    await next_sync(h)  # the same conflict seen again is not told again
    assert len([x for x in h.texts_to(ALICE) if CONFLICT_ZH in x]) == 2
    assert (await tasks_of(h, alice))[guid].title == "周报（终稿）"


async def test_a_user_without_a_connection_costs_no_feishu_tasks_call(h: Harness) -> None:
    bob = await h.add_user(BOB, locale="en", name="Bob")
    h.fake.tasks.add(BOB, "in Feishu only")
    await h.add_task(bob, "plain task", deadline=NOW.astimezone(TZ) + timedelta(days=2))

    await h.run_worker()
    await h.message(BOB, "/done plain")
    await h.settle()
    await next_sync(h)

    assert h.fake.requests("task_list") == 0
    assert h.fake.requests("task_patch") == 0
    assert await h.count("tasks", user_id=bob) == 1
    assert await h.count("notifications", kind="effect") == 0


async def test_several_workers_sync_each_user_once_per_interval(h: Harness) -> None:
    await connected(h, ALICE)
    h.fake.tasks.add(ALICE, "写周报")
    other = make_worker(h.components, h.clock)

    await h.run_worker()
    await other.run_once(h.clock.now)
    assert len(h.fake.tasks.lists) == 1

    await next_sync(h)  # an interval later: read again, by whichever worker comes first
    await other.run_once(h.clock.now)
    assert len(h.fake.tasks.lists) == 2


async def test_new_synced_tasks_ask_once_for_the_estimate_on_their_form_and_the_answer_stays(
    h: Harness,
) -> None:
    alice = await connected(h, ALICE)
    due = NOW + timedelta(days=3)
    guids = [h.fake.tasks.add(ALICE, f"任务{n}", due=due + timedelta(hours=n)) for n in range(5)]

    await h.run_worker()  # the sync, then the worker's delivery sends the questions

    mine = await tasks_of(h, alice)
    asked = [c for c in h.cards_to(ALICE) if "飞书任务" in json.dumps(c.card, ensure_ascii=False)]
    assert len(asked) == 3  # the soonest three of five: a long first sync does not flood the chat at once
    saves = [v for c in asked for v in buttons(c.card) if v["k"] == "task_save"]
    assert sorted(v["p"] for v in saves) == sorted(mine[g].id for g in guids[:3])

    first = next(n for n, v in enumerate(saves) if v["p"] == mine[guids[0]].id)
    card = asked[first]
    values = {"title": "任务0", "estimate": "90", "deadline": "", "important": True}
    response = await h.click(ALICE, saves[first], card.message_id, form_value=values, name="submit")
    assert json.loads(response.content)["toast"]["type"] == "success"

    await next_sync(h)  # Feishu still holds no estimate: ours stays; the two not asked yet are asked now
    after = await tasks_of(h, alice)
    assert after[guids[0]].estimate_minutes == 90

    def asked_ids() -> list[str]:
        cards = [c for c in h.cards_to(ALICE) if "飞书任务" in json.dumps(c.card, ensure_ascii=False)]
        return [v["p"] for c in cards for v in buttons(c.card) if v["k"] == "task_save"]

    assert sorted(asked_ids()) == sorted(mine[g].id for g in guids)  # each of the five, once
    await next_sync(h)
    assert len(asked_ids()) == 5  # nothing is asked twice


async def test_a_connected_user_is_subscribed_and_a_task_change_event_syncs_them_at_once(h: Harness) -> None:
    alice = await connected(h, ALICE)
    guid = h.fake.tasks.add(ALICE, "写周报", due=NOW + timedelta(days=3))
    await h.run_worker()  # the subscription effect, and the first sync
    await h.run_worker()
    assert h.fake.tasks.subscribed == [ALICE]  # once, with Alice's own token
    assert (await tasks_of(h, alice))[guid].status == "open"
    lists = len(h.fake.tasks.lists)

    h.fake.tasks.complete(guid, NOW)
    change = h.cb.task_changed(guid)
    response = await h.post(change)
    assert response.status_code == 200
    await h.settle()  # no clock advance: the periodic sync is not due, the event alone syncs

    assert (await tasks_of(h, alice))[guid].status == "done"
    assert len(h.fake.tasks.lists) == lists + 1
    again = await h.post(change)  # Feishu delivers it again: nothing more is read
    assert again.status_code == 200
    await h.settle()
    assert len(h.fake.tasks.lists) == lists + 1


async def test_a_change_event_for_a_task_no_one_has_synced_reads_nothing(h: Harness) -> None:
    await connected(h, ALICE)
    await h.run_worker()
    lists = len(h.fake.tasks.lists)
    response = await h.post(h.cb.task_changed("guid-never-synced"))
    assert response.status_code == 200
    await h.settle()
    assert len(h.fake.tasks.lists) == lists
