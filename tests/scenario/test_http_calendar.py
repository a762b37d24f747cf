"""Feishu busy time through the real HTTP app and worker: a meeting in the user's (fake) Feishu calendar keeps
every option off it; an Apply press while Feishu cannot be read is refused in the user's words and changes
nothing, and the same press applies once Feishu answers."""

from __future__ import annotations

import json
from datetime import timedelta

from scheduler.services.codec import decode_candidate
from scheduler.services.jobs import sync_job
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


async def test_a_meeting_that_now_overlaps_a_planned_block_gets_one_card_offering_to_move_it(
    harness: Harness,
) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    task = await h.add_task(user_id, "实验报告", estimate_minutes=90, deadline=at(20))
    block = await h.add_block(user_id, task, at(14), 90)
    await h.run_worker()
    assert h.cards_to(ALICE) == []  # nothing overlaps yet

    h.fake.calendars.add_event(ALICE, at(14), at(15), "周会")  # booked in Feishu afterwards
    h.clock.advance(minutes=6)  # past the copy's maximum age
    await h.run_worker()

    (card,) = h.cards_to(ALICE)
    text = json.dumps(card.card, ensure_ascii=False)
    assert "实验报告" in text
    assert "移到" in text
    applies = [v for v in buttons(card.card) if v["k"] == "apply"]
    assert applies
    async with h.store.uow(readonly=True) as uow:
        (trigger,) = await uow.triggers.recent_for_user(user_id, limit=1)
        assert (trigger.type, trigger.block_id) == ("calendar_conflict", block)

    # the same conflict found again by the next scans: no second card
    h.clock.advance(minutes=6)
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 1

    # (the first option, 09:10, has begun by now: the second one is taken)
    response = await h.click(ALICE, applies[1], card.message_id)
    assert json.loads(response.content)["toast"]["type"] == "success", response.content.decode()
    async with h.store.uow(readonly=True) as uow:
        moved = await uow.blocks.get(block)
        assert moved is not None
        assert not (moved.start < at(15) and moved.end > at(14))
        assert moved.end - moved.start == timedelta(minutes=90)
    h.clock.advance(minutes=6)
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 1  # moved off the meeting: no conflict left


async def test_a_removed_meeting_frees_its_time_once_the_copy_is_older_than_its_age(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    meeting = h.fake.calendars.add_event(ALICE, at(9), at(12), "评审会")
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    first = next(v for v in buttons(card.card) if v["k"] == "ignore")
    await h.click(ALICE, first, card.message_id)  # not now

    h.fake.calendars.remove_event(meeting.event_id)
    h.clock.advance(minutes=31)  # a new trigger (30-minute dedupe bucket), the copy older than 5 minutes
    async with h.store.uow() as uow:  # the task's job fires again (as after a snooze)
        task = await uow.tasks.get(
            next(t.id for t in await uow.tasks.for_user(user_id) if t.title == "实验报告")
        )
        assert task is not None
        task.urgency_threshold_at = h.clock.now - timedelta(minutes=1)
        await sync_job(uow, task, h.clock.now)
        await uow.commit()
    await h.run_worker()

    latest = h.cards_to(ALICE)[-1]
    assert latest.message_id != card.message_id
    async with h.store.uow(readonly=True) as uow:
        (preview,) = await uow.previews.recent(user_id, limit=1)
        spans = [
            (c.start, c.end)
            for cand in (decode_candidate(x) for x in preview.candidates)
            for c in cand.changes
            if c.start and c.end
        ]
    assert any(s < at(12) for s, _ in spans)  # 09:31-12:00 is usable again
