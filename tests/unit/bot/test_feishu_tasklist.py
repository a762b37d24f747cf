"""FeishuTasklistReader against the fake Feishu: a task list's tasks with the tenant token, every page, the
assignees' open_ids; an unknown list and a 5xx are TaskApiErrors, final and retryable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.feishu.client import FeishuClient
from bot.feishu.tasks import FeishuTasklistReader
from scheduler.services.tasksync import TaskApiError
from tests.fakes.fake_feishu import FakeFeishu, Fault, serve_fake_feishu

DUE = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


async def test_pages_of_a_list_with_their_assignees() -> None:
    with serve_fake_feishu(FakeFeishu()) as (fake, url):
        a = fake.tasks.add("ou_lead", "one", due=DUE, tasklist="tl_x", assignees=("ou_a", "ou_b"))
        b = fake.tasks.add("ou_lead", "two", tasklist="tl_x")
        c = fake.tasks.add("ou_lead", "three", tasklist="tl_x", assignees=("ou_b",), completed_at=DUE)
        fake.tasks.add("ou_lead", "elsewhere", tasklist="tl_y", assignees=("ou_a",))
        async with FeishuClient(fake.app_id, fake.app_secret, url) as client:
            reader = FeishuTasklistReader(client)
            first = await reader.list_tasklist("tl_x", page_token=None, page_size=2)
            assert first.next_token is not None
            last = await reader.list_tasklist("tl_x", page_token=first.next_token, page_size=2)
        assert last.next_token is None
        items = [*first.items, *last.items]
        assert [(i.task.guid, i.assignees) for i in items] == [(a, ("ou_a", "ou_b")), (b, ()), (c, ("ou_b",))]
        assert items[0].task.due == DUE
        assert items[2].task.completed_at == DUE
        assert fake.tasks.tasklist_reads == [("tl_x", ""), ("tl_x", "pt-2")]
        assert fake.requests("oauth_token") == 0


async def test_an_unknown_list_is_final_and_a_5xx_retryable() -> None:
    with serve_fake_feishu(FakeFeishu()) as (fake, url):
        fake.tasks.add_tasklist("tl_x")
        async with FeishuClient(fake.app_id, fake.app_secret, url) as client:
            reader = FeishuTasklistReader(client)
            with pytest.raises(TaskApiError) as gone:
                await reader.list_tasklist("tl_gone", page_token=None, page_size=50)
            assert not gone.value.retryable
            fake.inject("tasklist_tasks", Fault(status=502, msg="bad gateway"))
            with pytest.raises(TaskApiError) as down:
                await reader.list_tasklist("tl_x", page_token=None, page_size=50)
            assert down.value.retryable
            assert (await reader.list_tasklist("tl_x", page_token=None, page_size=50)).items == ()
