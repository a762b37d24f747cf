"""/prefs planning limits through the real HTTP app: the buffer after meetings, existing blocks moved a day,
planned hours a day, how much longer a day may get, late work; kept per user and used by the planner."""

from __future__ import annotations

from scheduler.services.context import user_prefs
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness


async def _said(h: Harness, open_id: str, text: str) -> str:
    await h.message(open_id, text)
    await h.settle()
    return h.texts_to(open_id)[-1]


async def test_limits_are_set_shown_and_planned_with(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    reply = await _said(h, ALICE, "/prefs buffer 10 moves 1 hours 6 extend 30 late on")
    assert "会后留空 10 分钟" in reply
    assert "每天最多移动 1 个" in reply
    assert "每天最多安排 6 小时" in reply
    assert "一天最多延长 30 分钟" in reply
    assert "过了午夜继续：开启" in reply
    async with h.store.uow(readonly=True) as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        prefs = user_prefs(user)
        version = user.schedule_version
    assert (prefs.buffer_minutes, prefs.max_moves_per_day, prefs.max_planned_minutes_per_day) == (10, 1, 360)
    assert (prefs.max_extension_minutes, prefs.late_work) == (30, True)
    assert version == 1  # a card planned on the old limits is stale


async def test_bad_limits_are_refused_by_name_and_change_nothing(harness: Harness) -> None:
    h = harness
    await h.add_user(BOB, locale="en", name="Bob")
    reply = await _said(h, BOB, "/prefs buffer 500")
    assert "buffer must be a number of minutes from 0 to 120" in reply
    reply = await _said(h, BOB, "/prefs late maybe")
    assert "late must be on or off" in reply
    reply = await _said(h, BOB, "/prefs")
    assert "0 min free after meetings" in reply
    assert "at most 2 existing blocks moved a day" in reply
    assert "past midnight: off" in reply
