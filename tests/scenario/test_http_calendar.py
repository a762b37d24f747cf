"""Feishu busy time through the real HTTP app and worker: a meeting in the user's (fake) Feishu calendar keeps
every option off it; an Apply press while Feishu cannot be read is refused in the user's words and changes
nothing, and the same press applies once Feishu answers."""

from __future__ import annotations

import json
from datetime import timedelta

from scheduler.services.codec import decode_candidate
from tests.fakes.fake_feishu import Fault
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at, buttons


async def _card(h: Harness, open_id: str, locale: str = "zh") -> tuple[str, list[dict[str, object]]]:
    user_id = await h.add_user(open_id, locale=locale)
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    h.fake.calendars.add_event(open_id, at(9, 30), at(12), "评审会")
    h.fake.calendars.add_event(open_id, at(13), at(14))
    await h.run_worker()
    (card,) = h.cards_to(open_id)
    return card.message_id, [v for v in buttons(card.card) if v["k"] == "apply"]


async def test_no_option_overlaps_a_meeting_in_the_feishu_calendar(harness: Harness) -> None:
    h = harness
    await _card(h, ALICE)
    (query,) = h.fake.calendars.queries_for(ALICE)
    assert query.body["user_id"] == ALICE
    async with h.store.uow(readonly=True) as uow:
        (preview,) = await uow.previews.recent(None, limit=1)
        candidates = [decode_candidate(c) for c in preview.candidates]
    spans = [(c.start, c.end) for cand in candidates for c in cand.changes if c.start and c.end]
    assert spans
    for start, end in spans:
        assert not (start < at(12) and end > at(9, 30)), (start, end)
        assert not (start < at(14) and end > at(13)), (start, end)


async def test_an_apply_while_feishu_cannot_be_read_is_refused_in_words_and_changes_nothing(
    harness: Harness,
) -> None:
    h = harness
    message_id, applies = await _card(h, BOB, locale="en")
    h.clock.advance(minutes=2)  # the copy is older than a minute: Apply reads it again
    before = await h.snapshot()
    h.fake.inject("freebusy", Fault.server_error(503))

    response = await h.click(BOB, applies[0], message_id)

    assert response.status_code == 200
    toast = json.loads(response.content)["toast"]
    assert toast["type"] == "error"
    assert "Feishu calendar" in toast["content"]
    await h.settle()
    after = await h.snapshot()
    assert after["change_sets"] == before["change_sets"] == 0
    assert after["blocks"] == before["blocks"]

    again = await h.click(BOB, applies[0], message_id)  # Feishu answers again: the same press applies
    assert json.loads(again.content)["toast"]["type"] == "success"
    assert await h.count("change_sets") == 1


async def test_the_refusal_is_in_chinese_for_a_chinese_user(harness: Harness) -> None:
    h = harness
    message_id, applies = await _card(h, ALICE)
    h.clock.advance(minutes=2)
    h.fake.inject("freebusy", Fault.server_error(503))
    response = await h.click(ALICE, applies[0], message_id)
    assert "飞书日历" in json.loads(response.content)["toast"]["content"]
    assert h.clock.now - at(9) == timedelta(minutes=2)
