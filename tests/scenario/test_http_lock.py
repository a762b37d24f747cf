"""/lock and /unlock through the real HTTP app: the named task's next block is locked, the assistant then
never moves it, and the schedule version moves on."""

from __future__ import annotations

import json

from store.models import Block, Preview, User
from tests.contract.services.builders import rows
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at


async def test_lock_then_a_make_up_never_moves_the_locked_block(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    report = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    meeting = await h.add_task(user_id, "周会准备", estimate_minutes=60, deadline=at(22))
    await h.add_block(user_id, report, at(8), 60)
    prep = await h.add_block(user_id, meeting, at(9, 5), 60)
    (before,) = await rows(h.store, User, id=user_id)

    await h.message(ALICE, "/lock 周会准备")
    await h.settle()
    assert (
        h.texts_to(ALICE)[-1]
        == "已锁定「周会准备」11-30 09:05–10:05：助手不会再移动它。发送 /unlock 周会准备 解除。"
    )
    (block,) = await rows(h.store, Block, id=prep)
    assert block.locked is True
    (after,) = await rows(h.store, User, id=user_id)
    assert after.schedule_version == before.schedule_version + 1

    await h.message(ALICE, "/lock 周会准备")
    await h.settle()
    assert h.texts_to(ALICE)[-1] == "「周会准备」11-30 09:05–10:05 已经锁定了。"

    await h.message(ALICE, "刚才那个没做完，还差30分钟")  # the 08:00-09:00 report block
    await h.run_worker()
    (preview,) = await rows(h.store, Preview)
    moved = [
        change.get("block_id")
        for candidate in preview.candidates
        for change in candidate.get("changes", ())
        if change.get("kind") != "add_block"
    ]
    assert prep not in moved
    assert "周会准备" not in json.dumps(
        [c["texts"].get("summary") for c in preview.candidates], ensure_ascii=False
    )

    await h.message(ALICE, "/unlock 周会准备")
    await h.settle()
    assert h.texts_to(ALICE)[-1] == "已解除锁定「周会准备」11-30 09:05–10:05。"
    (block,) = await rows(h.store, Block, id=prep)
    assert block.locked is False


async def test_lock_without_a_block_ahead_or_a_name_says_why(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE, locale="en")
    await h.add_task(user_id, "Essay", estimate_minutes=60, deadline=at(22))
    await h.message(ALICE, "/lock Essay")
    await h.message(ALICE, "/lock Physics")
    await h.message(ALICE, "/lock")
    await h.settle()
    replies = h.texts_to(ALICE)
    assert replies[0] == "“Essay” has no block ahead to lock."
    assert replies[1] == "No task matches “Physics”."
    assert "/lock" in replies[2]
