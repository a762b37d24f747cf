"""Learning, visible and bounded: "unfinished" reports teach a per-user overrun factor (1.0-2.0) that
scales the time new cards plan for a task, says so on the card, shows in /prefs and can be switched off."""

from __future__ import annotations

import json

import pytest

from store.models import User
from tests.contract.services.builders import rows
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at


async def _factor(h: Harness) -> float:
    (user,) = await rows(h.store, User, open_id=ALICE)
    return float(user.overrun_factor)


async def test_reports_teach_a_bounded_factor_that_new_cards_use_and_say(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    words = await h.add_task(user_id, "六级单词", estimate_minutes=30, deadline=at(23))
    await h.add_block(user_id, words, at(8, 15), 30)  # ended 08:45; it is 09:00

    await h.message(ALICE, "六级单词还差20分钟")  # 30 planned, 50 needed: 1.67x observed
    await h.settle()
    assert await _factor(h) == pytest.approx(1.17, abs=1e-4)  # a quarter of the way from 1.0
    await h.message(ALICE, "六级单词还差20分钟")  # another message, the same block: one more step
    await h.settle()
    assert 1.17 < await _factor(h) < 1.67

    await h.message(ALICE, "/prefs")
    await h.settle()
    assert "倍" in h.texts_to(ALICE)[-1]

    # a new urgent 60-minute task: its card plans the scaled time and says why
    await h.add_task(user_id, "实验报告", estimate_minutes=60, deadline=at(20), urgency_threshold_at=at(8))
    await h.run_worker()
    card = next(c for c in h.cards_to(ALICE) if "实验报告" in json.dumps(c.card, ensure_ascii=False))
    text = json.dumps(card.card, ensure_ascii=False)
    assert "倍预留" in text
    assert "/prefs learn off" in text


async def test_learning_off_plans_the_estimate_as_given(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    async with h.store.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        user.overrun_factor = 1.5
        await uow.commit()
    await h.message(ALICE, "/prefs learn off")
    await h.settle()
    await h.add_task(user_id, "实验报告", estimate_minutes=60, deadline=at(20), urgency_threshold_at=at(8))
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    text = json.dumps(card.card, ensure_ascii=False)
    assert "倍预留" not in text
    assert "09:00–10:00" in text or "09:00-10:00" in text
