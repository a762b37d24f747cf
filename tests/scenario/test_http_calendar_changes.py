"""A change in a user's Feishu calendar, announced by `calendar.calendar.event.changed_v4` (signed and
encrypted as Feishu sends it): their busy time is read again at once, so a meeting that now overlaps a
planned block gets its conflict card at the next scan, without waiting for the copy to age. A redelivered
event does nothing more; an event for a user the bot does not know reads nothing."""

from __future__ import annotations

import json

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at


async def test_a_change_event_rereads_busy_time_and_the_next_scan_sends_one_conflict_card(
    harness: Harness,
) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    task = await h.add_task(user_id, "实验报告", estimate_minutes=90, deadline=at(20))
    await h.add_block(user_id, task, at(14), 90)
    await h.run_worker()  # the copy is read: nothing overlaps
    reads = h.fake.requests("freebusy")

    h.fake.calendars.add_event(ALICE, at(14), at(15), "周会")  # booked in Feishu
    await h.run_worker()
    assert h.cards_to(ALICE) == []  # the copy is still fresh: the meeting is not known yet

    change = h.cb.calendar_event_changed([ALICE], "feishu.cn_alice@group.calendar.feishu.cn")
    response = await h.post(change)
    assert response.status_code == 200
    await h.settle()
    assert h.fake.requests("freebusy") == reads + 1  # read again at once
    await h.run_worker()

    (card,) = h.cards_to(ALICE)
    assert "实验报告" in json.dumps(card.card, ensure_ascii=False)
    async with h.store.uow(readonly=True) as uow:
        (trigger,) = await uow.triggers.recent_for_user(user_id, limit=1)
        assert trigger.type == "calendar_conflict"

    again = await h.post(change)  # Feishu delivers the same event again
    assert again.status_code == 200
    await h.settle()
    await h.run_worker()
    assert h.fake.requests("freebusy") == reads + 1
    assert len(h.cards_to(ALICE)) == 1


async def test_a_change_event_for_an_unknown_user_reads_nothing(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    before = h.fake.requests("freebusy")
    response = await h.post(h.cb.calendar_event_changed([BOB], "feishu.cn_bob@group.calendar.feishu.cn"))
    assert response.status_code == 200
    await h.settle()
    assert h.fake.requests("freebusy") == before
    assert await h.count("inbox", kind="event", status="processed") == 1
