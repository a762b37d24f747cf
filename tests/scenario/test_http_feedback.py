"""Unfinished reports through the real HTTP app that must not become a make-up, and phrasings that must."""

from __future__ import annotations

import json
from datetime import timedelta

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at, buttons

DAY = timedelta(days=1)


async def test_a_report_about_a_block_that_has_not_started_gets_a_reply_not_a_make_up(
    harness: Harness,
) -> None:
    h = harness  # 09:00; the only block of 六级单词 is tonight
    user_id = await h.add_user(ALICE)
    words = await h.add_task(user_id, "六级单词", estimate_minutes=30, deadline=at(23))
    await h.add_block(user_id, words, at(21, 30), 30)

    await h.message(ALICE, "六级单词没做完")
    await h.run_worker()

    assert h.texts_to(ALICE) == ["「六级单词」安排在今天 21:30–22:00，还没开始，现在没有需要补做的。"]
    assert h.cards_to(ALICE) == []
    assert await h.count("triggers") == 0
    assert await h.count("blocks") == 1


async def test_an_english_report_about_tomorrows_block_is_answered_in_english(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(BOB, locale="en", name="Bob")
    report = await h.add_task(user_id, "Physics lab report", deadline=at(20) + DAY)
    await h.add_block(user_id, report, at(13) + DAY, 90)

    await h.message(BOB, "didn't finish the report, 30 min left")
    await h.run_worker()

    assert h.texts_to(BOB) == [
        "“Physics lab report” is planned for tomorrow 13:00–14:30; it has not started, "
        "so there is nothing to make up yet."
    ]
    assert await h.count("triggers") == 0


async def test_a_task_without_a_block_is_said_to_have_none(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "数据结构作业", deadline=at(22))

    await h.message(ALICE, "数据结构作业没做完")
    await h.run_worker()

    assert h.texts_to(ALICE) == ["「数据结构作业」还没有安排时间段，没有可以补做的。"]
    assert await h.count("triggers") == 0


async def test_emoji_and_another_hour_still_mean_the_block_that_just_ended(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    ppt = await h.add_task(user_id, "组会 PPT", estimate_minutes=60, deadline=at(22))
    block = await h.add_block(user_id, ppt, at(8), 45)  # ended 15 minutes before 09:00

    await h.message(ALICE, "没做完😭")
    await h.message(ALICE, "I didn't finish, need another hour")
    await h.run_worker()

    assert h.texts_to(ALICE) == []  # no "task not found"
    cards = h.cards_to(ALICE)
    assert len(cards) == 2
    assert all(any(v["k"] == "apply" for v in buttons(c.card)) for c in cards)
    assert await h.count("triggers", type="user_feedback", block_id=block) == 2
    assert await h.count("triggers", remaining_minutes=60) == 1


async def test_a_name_matches_by_its_words(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(BOB, locale="en", name="Bob")
    review = await h.add_task(user_id, "Review PR #482", estimate_minutes=45, deadline=at(22))
    block = await h.add_block(user_id, review, at(8), 45)

    await h.message(BOB, "didn't finish the PR review, 20 min left")
    await h.run_worker()

    assert h.texts_to(BOB) == []
    assert len(h.cards_to(BOB)) == 1
    assert await h.count("triggers", block_id=block, remaining_minutes=20) == 1


async def test_an_unknown_name_says_so_and_points_at_the_block_that_just_ended(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    ppt = await h.add_task(user_id, "组会 PPT", estimate_minutes=60, deadline=at(22))
    await h.add_block(user_id, ppt, at(8), 45)

    await h.message(ALICE, "周报还差20分钟")
    await h.run_worker()

    assert h.texts_to(ALICE) == [
        "没找到任务「周报」。最近的安排是「组会 PPT」（今天 08:00–08:45）；"
        "如果是它没做完，请回复「刚才那个没做完，还差20分钟」。"
    ]
    assert await h.count("triggers") == 0


async def test_sighs_and_meals_get_the_short_help(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)

    await h.message(ALICE, "我还没吃完饭")
    await h.message(ALICE, "今天事情太多了做不完")
    await h.settle()

    assert h.texts_to(ALICE) == ["没看懂。发送 /help 查看用法，或直接说「没做完」。"] * 2


async def test_a_new_user_who_writes_english_is_answered_in_english_from_the_first_reply(
    harness: Harness,
) -> None:
    h = harness
    await h.message("ou_newcomer", "didn't finish the report, 30 min left")
    await h.message("ou_chinese_newcomer", "报告还差30分钟")
    await h.run_worker()
    await h.message("ou_newcomer", "/tasks")
    await h.settle()

    first, tasks = h.texts_to("ou_newcomer")
    (chinese,) = h.texts_to("ou_chinese_newcomer")
    assert "report" in first
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in first + tasks)
    assert "报告" in chinese
    async with h.store.uow(readonly=True) as uow:
        user = await uow.users.get_by_open_id("ou_newcomer")
        assert user is not None
        assert user.locale == "en"  # /prefs lang zh switches it back


async def test_a_report_about_a_task_marked_done_says_so_and_how_to_reopen_it(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    ppt = await h.add_task(user_id, "组会 PPT", estimate_minutes=60, deadline=at(20))
    await h.add_block(user_id, ppt, at(8), 45)
    await h.message(ALICE, "/done 组会 PPT")
    await h.settle()

    await h.message(ALICE, "组会PPT没做完")
    await h.run_worker()

    assert h.texts_to(ALICE)[-1] == (
        "「组会 PPT」已经标记为完成。如果其实还没做完，先发送 /undone 组会 PPT 恢复它，再说没做完。"
    )
    assert await h.count("triggers") == 0
    assert h.cards_to(ALICE) == []


async def test_the_block_just_now_of_a_task_marked_done_says_the_task_is_done(harness: Harness) -> None:
    h = harness  # 09:00; the 08:00-08:45 block just ended, and its task was marked done meanwhile
    user_id = await h.add_user(ALICE)
    ppt = await h.add_task(user_id, "组会 PPT", estimate_minutes=60, deadline=at(20))
    await h.add_block(user_id, ppt, at(8), 45)
    await h.message(ALICE, "/done 组会 PPT")
    await h.settle()

    await h.message(ALICE, "刚才那个没做完")
    await h.run_worker()
    await h.settle()

    assert h.texts_to(ALICE)[-1] == (
        "「组会 PPT」已经标记为完成。如果其实还没做完，先发送 /undone 组会 PPT 恢复它，再说没做完。"
    )
    assert h.cards_to(ALICE) == []


async def test_a_report_about_an_older_named_block_gets_a_make_up_card(harness: Harness) -> None:
    h = harness  # 09:00 on 11-30; 六级单词's last block was three days ago, outside what a plan loads
    user_id = await h.add_user(ALICE)
    words = await h.add_task(user_id, "六级单词", estimate_minutes=40, deadline=at(22))
    await h.add_block(user_id, words, at(19, day=27), 40)

    await h.message(ALICE, "/unfinished 六级单词 20")
    await h.run_worker()

    (card,) = h.cards_to(ALICE)
    applies = [v for v in buttons(card.card) if v["k"] == "apply"]
    assert applies  # a make-up for the 20 minutes left, not a question with nothing to press
    assert "六级单词" in json.dumps(card.card, ensure_ascii=False)
    assert await h.count("previews", decision="propose") == 1
    assert await h.count("notifications", status="dead") == 0


async def test_every_unfinished_report_gets_an_answer(harness: Harness) -> None:
    """Each report is answered at the fake Feishu, as a card or as text, whatever it resolves to."""
    h = harness
    user_id = await h.add_user(ALICE)
    words = await h.add_task(user_id, "六级单词", estimate_minutes=40, deadline=at(22))
    report = await h.add_task(user_id, "实验报告", estimate_minutes=90, deadline=at(22))
    await h.add_task(user_id, "数据结构作业", deadline=at(22))
    await h.add_block(user_id, words, at(19, day=27), 40)
    await h.add_block(user_id, report, at(8), 50)
    await h.add_block(user_id, words, at(21), 30)
    reports = [
        "/unfinished 六级单词 20",
        "刚才那个没做完",
        "数据结构作业没做完",
        "不存在的任务没做完",
        "/unfinished",
        "实验报告没做完，还差30分钟",
    ]
    for n, text in enumerate(reports):
        before = len(h.fake.messages_to(ALICE))
        h.clock.now = at(9, n)
        await h.message(ALICE, text)
        await h.run_worker()
        await h.run_worker()
        assert len(h.fake.messages_to(ALICE)) > before, text
    assert await h.count("notifications", status="dead") == 0
