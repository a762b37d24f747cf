"""A shared Feishu task list read with the app's token alone (SMARTFLOW_TASK_LISTS), through the real HTTP
app, the fake Feishu and a real worker: tasks of the list assigned to Alice and Bob (not connected) are theirs
after one worker run, a task with both goes to each; an unassigned task or one of a stranger creates nothing;
completing one in Feishu makes it done here at the next sync (its job canceled), and `/done` here completes it
there with the app's token; no user token is used. A connected user who also reads the task in their own
my_tasks gets it once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from store.enums import TaskStatus
from tests.fakes.fake_feishu import FakeFeishu
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, NOW, Harness, open_harness
from tests.scenario.test_http_connect import KEY, PUBLIC_URL, connected
from tests.scenario.test_http_tasks_sync import next_sync, rows, tasks_of

LIST = "tl_team"
LEAD = "ou_team_lead"  # creates the tasks; not one of our users
STRANGER = "ou_stranger"
OAUTH_ENDPOINTS = ("oauth_token", "user_info", "task_list", "task_patch")


@pytest.fixture
async def h(db_url: str, fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[Harness]:
    async with open_harness(db_url, fake_server, task_lists=LIST) as harness:
        yield harness


async def test_tasks_of_the_list_become_their_assignees_tasks_with_the_app_token(h: Harness) -> None:
    alice = await h.add_user(ALICE, name="Alice")
    bob = await h.add_user(BOB, name="Bob")
    due = NOW + timedelta(days=2)
    report = h.fake.tasks.add(LEAD, "周报", due=due, tasklist=LIST, assignees=(ALICE,))
    slides = h.fake.tasks.add(LEAD, "slides", tasklist=LIST, assignees=(BOB,))
    both = h.fake.tasks.add(LEAD, "评审", due=due, tasklist=LIST, assignees=(ALICE, BOB))
    h.fake.tasks.add(LEAD, "nobody's", tasklist=LIST)
    h.fake.tasks.add(LEAD, "a stranger's", tasklist=LIST, assignees=(STRANGER,))
    h.fake.tasks.add(LEAD, "另一个清单", tasklist="tl_other", assignees=(ALICE,))
    h.fake.tasks.add(
        LEAD, "早就做完了", tasklist=LIST, assignees=(ALICE,), completed_at=NOW - timedelta(days=1)
    )
    before = await h.count("tasks")

    await h.run_worker()

    mine, bobs = await tasks_of(h, alice), await tasks_of(h, bob)
    assert set(mine) == {report, both}
    assert set(bobs) == {slides, both}
    assert (mine[report].title, mine[report].status, mine[report].deadline) == ("周报", "open", due)
    assert (bobs[slides].title, bobs[slides].estimate_minutes, bobs[slides].deadline) == ("slides", 30, None)
    assert mine[both].id != bobs[both].id  # each assignee has their own copy
    assert await h.count("tasks") == before + 4  # nothing for the unassigned, the stranger, the other list
    assert h.fake.tasks.tasklist_reads == [(LIST, "")]
    jobs = await rows(h, "SELECT task_id FROM jobs WHERE user_id IN (:a, :b)", a=alice, b=bob)
    dated = {t.id for t in [*mine.values(), *bobs.values()] if t.deadline is not None}
    assert {j["task_id"] for j in jobs} == dated  # each armed like any task (one with a deadline)
    assert all(h.fake.requests(e) == 0 for e in OAUTH_ENDPOINTS)  # the app's token only

    await next_sync(h)  # read again: nothing twice
    assert await h.count("tasks") == before + 4


async def test_completed_in_the_list_is_done_here_at_the_next_sync(h: Harness) -> None:
    alice = await h.add_user(ALICE, name="Alice")
    guid = h.fake.tasks.add(LEAD, "周报", due=NOW + timedelta(days=2), tasklist=LIST, assignees=(ALICE,))
    await h.run_worker()
    task = (await tasks_of(h, alice))[guid]
    [job] = await rows(h, "SELECT status FROM jobs WHERE task_id = :t", t=task.id)
    assert job["status"] == "pending"

    h.fake.tasks.complete(guid, NOW + timedelta(minutes=1))
    await next_sync(h)

    assert (await tasks_of(h, alice))[guid].status == TaskStatus.DONE
    [job] = await rows(h, "SELECT status FROM jobs WHERE task_id = :t", t=task.id)
    assert job["status"] == "canceled"
    assert all(h.fake.requests(e) == 0 for e in OAUTH_ENDPOINTS)
    assert len(h.fake.tasks.tasklist_reads) == 2


async def test_a_list_that_cannot_be_read_costs_the_other_lists_nothing(
    db_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    async with open_harness(db_url, fake_server, task_lists=f"tl_gone,{LIST}") as h:
        alice = await h.add_user(ALICE, name="Alice")
        guid = h.fake.tasks.add(LEAD, "周报", tasklist=LIST, assignees=(ALICE,))
        await h.run_worker()  # tl_gone: 1470404, logged
        assert set(await tasks_of(h, alice)) == {guid}


async def test_a_connected_assignee_gets_the_task_once(
    db_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    async with open_harness(db_url, fake_server, task_lists=LIST, public_url=PUBLIC_URL, secret_key=KEY) as h:
        alice = await connected(h, ALICE)
        # Alice's own task, in the team list and assigned to her: her my_tasks and the list both hold it.
        guid = h.fake.tasks.add(ALICE, "周报", tasklist=LIST, assignees=(ALICE,))

        await h.run_worker()
        await next_sync(h)

        assert set(await tasks_of(h, alice)) == {guid}
        assert await h.count("tasks", user_id=alice) == 1
        assert h.fake.requests("task_list") >= 1  # her own tasks were read
        assert len(h.fake.tasks.tasklist_reads) >= 1  # and the list


async def test_done_here_on_a_list_task_completes_it_in_feishu_with_the_app_token(h: Harness) -> None:
    alice = await h.add_user(ALICE, name="Alice")
    guid = h.fake.tasks.add(LEAD, "写周报", due=NOW + timedelta(days=2), tasklist=LIST, assignees=(ALICE,))
    await h.run_worker()

    await h.message(ALICE, "/done 写周报")
    await h.run_worker()

    assert (await tasks_of(h, alice))[guid].status == TaskStatus.DONE
    effects = await rows(h, "SELECT status FROM notifications WHERE kind = 'effect'")
    assert [e["status"] for e in effects] == ["sent"]
    assert h.fake.tasks.task(guid).completed  # no login: the app, a member of the list, completed it
    [patch] = h.fake.tasks.patches
    assert (patch.guid, patch.open_id, patch.body["update_fields"]) == (guid, "app", ["completed_at"])


async def test_done_on_a_task_the_app_may_not_edit_ends_dead_and_says_why(h: Harness) -> None:
    """A task the app may not edit (here: the app left its list after the task was read): Feishu refuses, the
    effect is dead with Feishu's code, and the task stays done here."""
    alice = await h.add_user(ALICE, name="Alice")
    guid = h.fake.tasks.add(LEAD, "写周报", due=NOW + timedelta(days=2), tasklist=LIST, assignees=(ALICE,))
    await h.run_worker()
    h.fake.tasks.remove_tasklist(LIST)

    await h.message(ALICE, "/done 写周报")
    await h.run_worker()

    assert (await tasks_of(h, alice))[guid].status == TaskStatus.DONE
    effects = await rows(h, "SELECT status, last_error_code FROM notifications WHERE kind = 'effect'")
    assert [(e["status"], e["last_error_code"]) for e in effects] == [("dead", "1470403")]
    assert not h.fake.tasks.task(guid).completed


async def test_done_by_an_assignee_who_never_connected_is_completed_by_the_app(
    db_url: str, fake_server: tuple[FakeFeishu, str]
) -> None:
    """With /connect on, Bob (assigned a task of the list, never connected) says /done: he has no token of
    his own, so the app completes it. Alice, connected, completes her own task as herself."""
    async with open_harness(db_url, fake_server, task_lists=LIST, public_url=PUBLIC_URL, secret_key=KEY) as h:
        alice = await connected(h, ALICE)
        bob = await h.add_user(BOB, name="Bob")
        his = h.fake.tasks.add(LEAD, "评审", due=NOW + timedelta(days=2), tasklist=LIST, assignees=(BOB,))
        hers = h.fake.tasks.add(ALICE, "周报", due=NOW + timedelta(days=2))
        await h.run_worker()
        assert set(await tasks_of(h, bob)) == {his}
        assert set(await tasks_of(h, alice)) == {hers}

        await h.message(BOB, "/done 评审")
        await h.message(ALICE, "/done 周报")
        await h.run_worker()

        assert h.fake.tasks.task(his).completed
        assert h.fake.tasks.task(hers).completed
        assert sorted((p.guid, p.open_id) for p in h.fake.tasks.patches) == sorted(
            [(his, "app"), (hers, ALICE)]
        )
