"""Task commands through the real HTTP app: /done picks the right task, /undone, /add deadlines, posts."""

from __future__ import annotations

import re

from tests.fakes.feishu_callbacks import Mention
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at, buttons


async def _reply(h: Harness, open_id: str, text: str) -> str:
    await h.message(open_id, text)
    await h.settle()
    return h.texts_to(open_id)[-1]


async def test_a_one_letter_fragment_completes_nothing(harness: Harness) -> None:
    h = harness
    bob = await h.add_user(BOB, locale="en", name="Bob")
    await h.add_task(bob, "Q1 planning doc", estimate_minutes=60)

    reply = await _reply(h, BOB, "/done a")

    assert "too short" in reply
    assert await h.count("tasks", status="open") == 1
    assert "Marked “Q1 planning doc” done." in await _reply(h, BOB, "/done planning")
    assert await h.count("tasks", status="done") == 1


async def test_two_tasks_with_one_title_are_listed_and_either_can_be_completed(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/add 写周报 30")
    h.clock.advance(minutes=1)
    await h.message(ALICE, "/add 写周报 45 by 明天18:00 +")  # "+": another task of the same title

    listing = await _reply(h, ALICE, "/done 写周报")

    assert await h.count("tasks", status="open") == 2
    assert "有 2 个任务匹配「写周报」" in listing
    first, second = (line for line in listing.splitlines() if re.match(r"\d\. ", line))
    assert first == "1. 写周报 · 45 分钟 · 截止 12-01 18:00"  # the one with a deadline comes first
    assert second == "2. 写周报 · 30 分钟"
    assert "/done 写周报 #1" in listing

    done = await _reply(h, ALICE, "/done 写周报 #2")

    assert done.startswith("已完成「写周报」")
    assert await h.count("tasks", status="done", estimate_minutes=30) == 1
    assert await h.count("tasks", status="open", estimate_minutes=45) == 1
    await _reply(h, ALICE, "/done 写周报")  # the only open one now: no question
    assert await h.count("tasks", status="done") == 2


async def test_a_title_beats_another_tasks_key_and_a_hash_in_a_title_is_part_of_the_name(
    harness: Harness,
) -> None:
    h = harness
    bob = await h.add_user(BOB, locale="en", name="Bob")
    await h.add_task(bob, "Group meeting deck", key="slides", estimate_minutes=60)
    await h.add_task(bob, "slides", estimate_minutes=30)
    await h.add_task(bob, "Review PR #482", estimate_minutes=45)

    slides = await _reply(h, BOB, "/done slides")
    review = await _reply(h, BOB, "/done PR #482")

    assert "Marked “slides” done." in slides
    assert "Marked “Review PR #482” done." in review
    assert await h.count("tasks", status="open") == 1
    assert await h.count("tasks", status="open", title="Group meeting deck") == 1


async def test_every_line_of_identical_tasks_says_when_it_was_added(harness: Harness) -> None:
    h = harness
    bob = await h.add_user(BOB, locale="en", name="Bob")
    await h.add_task(bob, "Fix", estimate_minutes=30)
    h.clock.advance(minutes=5)
    await h.add_task(bob, "Fix", estimate_minutes=30)

    listing = await _reply(h, BOB, "/done Fix")

    lines = [line for line in listing.splitlines() if re.match(r"\d\. ", line)]
    assert len(lines) == 2
    assert all("added" in line for line in lines), lines
    assert lines[0] != lines[1]


async def test_a_long_list_of_matches_says_how_many_more(harness: Harness) -> None:
    h = harness
    bob = await h.add_user(BOB, locale="en", name="Bob")
    for n in range(7):
        await h.add_task(bob, f"fix bug {n}", estimate_minutes=30 + n)

    listing = await _reply(h, BOB, "/done fix")

    assert "7 tasks match “fix”" in listing
    assert len([line for line in listing.splitlines() if re.match(r"\d\. ", line)]) == 5
    assert "…and 2 more" in listing
    assert await h.count("tasks", status="open") == 7
    assert "There is no #9" not in await _reply(h, BOB, "/done fix #7")
    assert await h.count("tasks", status="done") == 1


async def test_undone_reopens_a_task_and_rearms_its_job(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/add 实验报告 60 by 明天18:00")
    done = await _reply(h, ALICE, "/done 实验报告")
    assert "/undone 实验报告" in done
    assert await h.count("jobs", status="canceled") == 1

    reopened = await _reply(h, ALICE, "/undone 实验报告")

    assert reopened == "已把「实验报告」恢复为未完成。"
    assert await h.count("tasks", status="open") == 1
    assert await h.count("jobs", status="pending") == 1
    assert "没找到已完成的任务" in await _reply(h, ALICE, "/undone 实验报告")


async def test_add_refuses_a_deadline_that_has_passed(harness: Harness) -> None:
    h = harness  # 09:00 on 2026-11-30
    today = await _reply(h, ALICE, "/add 写周报 30 by 今天 8:00")
    long_ago = await _reply(h, ALICE, "/add 写周报 30 by 2020-01-01 10:00")
    no_year = await _reply(h, ALICE, "/add 写周报 30 by 11-29 10:00")  # yesterday, not next November

    assert "截止时间 11-30 08:00 已经过去了" in today
    assert "截止时间 2020-01-01 10:00 已经过去了" in long_ago
    assert "截止时间 11-29 10:00 已经过去了" in no_year
    assert await h.count("tasks") == 0


async def test_add_shows_the_year_of_a_deadline_next_year(harness: Harness) -> None:
    h = harness
    reply = await _reply(h, ALICE, "/add 写年报 60 by 2027-01-05 10:00")
    assert reply == "已添加任务「写年报」（60 分钟），截止 2027-01-05 10:00。"
    assert "截止 2027-01-05 10:00" in await _reply(h, ALICE, "/tasks")


async def test_tasks_marks_overdue_tasks(harness: Harness) -> None:
    h = harness
    alice = await h.add_user(ALICE)
    await h.add_task(alice, "物理实验报告", estimate_minutes=60, deadline=at(8))
    await h.add_task(alice, "六级单词", estimate_minutes=30, deadline=at(20))

    reply = await _reply(h, ALICE, "/tasks")

    assert "• 物理实验报告 · 60 分钟 · 截止 08:00 · 已逾期" in reply
    assert "• 六级单词 · 30 分钟 · 截止 20:00\n" in reply + "\n"


async def test_add_errors_name_the_problem(harness: Harness) -> None:
    h = harness
    assert "「by」后面缺少截止时间" in await _reply(h, ALICE, "/add 写周报 30 by")
    assert "分钟数必须在 5 到 480 之间（现在是 -30）" in await _reply(h, ALICE, "/add 写周报 -30")
    assert "分钟数必须在 5 到 480 之间（现在是 1000000）" in await _reply(h, ALICE, "/add 写周报 1000000")
    assert await h.count("tasks") == 0


def _post(*paragraphs: list[dict[str, str]], locale: str | None = None) -> dict[str, object]:
    post = {"title": "", "content": list(paragraphs)}
    return {locale: post} if locale else post


async def test_a_rich_text_report_works_like_a_text_one(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    task_id = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    await h.add_block(user_id, task_id, at(8), 45)  # ended 15 minutes before NOW (09:00)

    content = _post([{"tag": "text", "text": "刚才那个"}, {"tag": "text", "text": "没做完", "style": "bold"}])
    response = await h.message(ALICE, "", message_type="post", content=content)

    assert response.status_code == 200
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 1
    assert any(v["k"] == "apply" for v in buttons(h.cards_to(ALICE)[0].card))
    assert await h.count("triggers", type="user_feedback") == 1


async def test_a_rich_text_command_with_a_locale_wrapper_and_a_mention(harness: Harness) -> None:
    h = harness
    await h.message(ALICE, "/add 写周报 30")
    content = _post(
        [{"tag": "at", "user_id": "@_user_1", "user_name": "SmartFlow"}, {"tag": "text", "text": " /done"}],
        [{"tag": "text", "text": "写周报"}],
        locale="zh_cn",
    )
    mention = Mention("@_user_1", h.cb.bot_open_id)

    await h.message(
        ALICE,
        "",
        message_type="post",
        content=content,
        chat_type="group",
        chat_id="oc_team",
        mentions=[mention],
    )
    await h.settle()

    assert await h.count("tasks", status="done") == 1
