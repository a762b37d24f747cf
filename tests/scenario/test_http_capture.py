"""A task in plain words, through the real HTTP app: the bot says what it read and the exact /add that
creates it (nothing is created from plain words alone); a missing estimate or a past deadline is asked about
by name; a text that is no task still gets the short help."""

from __future__ import annotations

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness


async def _said(h: Harness, open_id: str, text: str, message_id: str) -> str:
    await h.message(open_id, text, message_id=message_id)
    await h.settle()
    return h.texts_to(open_id)[-1]


async def test_a_task_in_plain_words_gets_the_add_line_and_creates_nothing(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    reply = await _said(h, ALICE, "明天下午3点前交实验报告，大概2小时", "om_c1")
    assert "/add 交实验报告 120 by 2026-12-01 15:00" in reply
    assert await h.count("tasks") == 0

    line = reply.splitlines()[-1]
    await _said(h, ALICE, line, "om_c2")  # the user sends the line as it is
    assert await h.count("tasks") == 1
    assert await h.count("tasks", title="交实验报告", estimate_minutes=120) == 1


async def test_english_phrasing_and_the_questions_it_may_need(harness: Harness) -> None:
    h = harness
    await h.add_user(BOB, locale="en", name="Bob")
    reply = await _said(h, BOB, "finish the slides by Friday 5pm, about 90 min", "om_e1")
    assert reply.endswith("/add finish the slides 90 by 2026-12-04 17:00")
    reply = await _said(h, BOB, "review PR by tonight 9pm", "om_e2")
    assert "About how many minutes will “review PR” take?" in reply
    reply = await _said(h, BOB, "call the bank before 8am", "om_e3")  # 08:00 tomorrow: ahead, not past
    assert "About how many minutes will “call the bank” take?" in reply
    reply = await _said(h, BOB, "hello there", "om_e4")
    assert reply.startswith("Sorry, I did not get that.")
    assert await h.count("tasks") == 0


async def test_a_deadline_that_has_passed_is_named(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    reply = await _said(h, ALICE, "11月29日 18:00前交报告 1小时", "om_p1")
    assert "已经过去了" in reply
    assert await h.count("tasks") == 0


async def test_the_same_add_twice_asks_instead_of_duplicating_and_plus_adds_another(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_d1")
    reply = await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_d2")
    assert "已经有一个未完成的「写周报」" in reply
    assert reply.splitlines()[-1] == "/add 写周报 60 by 明天18:00 +"
    assert await h.count("tasks") == 1
    await _said(h, ALICE, reply.splitlines()[-1], "om_d3")
    assert await h.count("tasks", title="写周报") == 2


async def test_drop_cancels_the_task_and_its_job(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_x1")
    assert await h.count("jobs", status="pending") == 1
    reply = await _said(h, ALICE, "/drop 周报", "om_x2")
    assert "已放弃「写周报」" in reply
    assert await h.count("tasks", status="canceled") == 1
    assert await h.count("jobs", status="pending") == 0
    reply = await _said(h, ALICE, "/drop 周报", "om_x3")
    assert "周报" in reply  # nothing open by that name any more: said so
    assert await h.count("tasks", status="canceled") == 1


async def test_a_dropped_task_comes_back_with_undone(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60 by 明天18:00", "om_u1")
    await _said(h, ALICE, "/drop 写周报", "om_u2")
    await _said(h, ALICE, "/undone 写周报", "om_u3")
    assert await h.count("tasks", status="open") == 1
    assert await h.count("jobs", status="pending") == 1


async def test_edit_changes_the_given_fields_and_rearms_the_job(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await _said(h, ALICE, "/add 写周报 60", "om_ed1")
    assert await h.count("jobs", status="pending") == 0  # no deadline: no job
    reply = await _said(h, ALICE, "/edit 周报 90 by 明天18:00 !", "om_ed2")
    assert reply.startswith("已更新：写周报")
    assert "90" in reply
    assert await h.count("tasks", estimate_minutes=90, quadrant=2) == 1
    assert await h.count("jobs", status="pending") == 1  # a deadline: the job is armed
    await _said(h, ALICE, "/edit 周报 by none -", "om_ed3")
    assert await h.count("tasks", quadrant=4) == 1
    assert await h.count("jobs", status="pending") == 0
    reply = await _said(h, ALICE, "/edit 周报 by 11-29 18:00", "om_ed4")
    assert "已经过去了，任务没有修改" in reply
    assert await h.count("tasks", quadrant=4, estimate_minutes=90) == 1  # unchanged
    reply = await _said(h, ALICE, "/edit 周报", "om_ed5")
    assert "请说明要改什么" in reply
    reply = await _said(h, ALICE, "/edit 不存在的任务 30", "om_ed6")
    assert "不存在的任务" in reply
