"""A card planned before the schedule changed is refused on Apply (schedule version); nothing is written."""

from __future__ import annotations

import json
from typing import Any

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at, buttons


async def _card(h: Harness) -> tuple[str, dict[str, Any]]:
    user_id = await h.add_user(ALICE)
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    return card.message_id, next(v for v in buttons(card.card) if v["k"] == "apply")


async def test_apply_after_the_day_window_changed_is_refused(harness: Harness) -> None:
    h = harness
    message_id, apply = await _card(h)
    await h.message(ALICE, "/prefs day 08:00-21:00")
    await h.settle()

    response = await h.click(ALICE, apply, message_id)

    body = json.loads(response.content)
    assert "日程有了变化" in body["toast"]["content"], body  # base_version_changed
    assert await h.count("change_sets") == 0
    assert await h.count("blocks", source="assistant") == 0


async def test_apply_after_a_language_change_still_applies(harness: Harness) -> None:
    h = harness
    message_id, apply = await _card(h)
    await h.message(ALICE, "/prefs lang en")
    await h.settle()

    await h.click(ALICE, apply, message_id)

    assert await h.count("change_sets") == 1
