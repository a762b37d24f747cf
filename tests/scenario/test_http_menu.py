"""The bot menu (application.bot.menu_v6): Today, Tasks, Add and Settings are answered in the presser's chat
with the bot, once per event, like the messages they stand for."""

from __future__ import annotations

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at


async def test_each_menu_item_is_answered_in_chat(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "实验报告", estimate_minutes=60, deadline=at(18))

    for key in ("today", "tasks", "add", "settings", "menu_TODAY", "something_else"):
        response = await h.post(h.cb.bot_menu(ALICE, key))
        assert response.status_code == 200, key
    await h.settle()
    today, tasks, add, settings, today_again, unknown = h.texts_to(ALICE)
    assert "接下来 24 小时" in today
    assert "实验报告" in tasks
    assert "/add" in add
    assert "明天下午3点" in add
    assert "作息 08:00-22:30" in settings  # as /prefs shows it
    assert today_again == today
    assert "我可以帮你" in unknown  # the help


async def test_a_redelivered_menu_event_is_answered_once(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    request = h.cb.bot_menu(ALICE, "tasks", event_id="ev-menu-1")
    await h.post(request)
    await h.post(request)
    await h.settle()
    assert len(h.texts_to(ALICE)) == 1


async def test_a_menu_press_from_a_new_user_creates_them_and_welcomes_them(harness: Harness) -> None:
    h = harness
    await h.post(h.cb.bot_menu(ALICE, "today"))
    await h.settle()
    assert await h.count("users") == 1
    assert len(h.welcomes_to(ALICE)) == 1
    assert len(h.texts_to(ALICE)) == 1
