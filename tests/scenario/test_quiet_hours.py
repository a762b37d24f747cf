"""Quiet hours as a user lives them: a warning due in quiet hours comes after them, planned afresh, never
lost; an answer to the user's own message is never held back."""

from __future__ import annotations

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at, buttons


async def _quiet_alice(h: Harness, start: str, end: str) -> str:
    user_id = await h.add_user(ALICE)
    async with h.store.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        user.quiet_start, user.quiet_end = start, end
        await uow.commit()
    return user_id


async def test_a_warning_due_in_quiet_hours_arrives_after_them_with_fresh_options(harness: Harness) -> None:
    h = harness
    user_id = await _quiet_alice(h, "08:30", "10:30")  # NOW is 09:00
    await h.add_task(
        user_id, "实验报告", urgency_threshold_at=at(8, 55), deadline=at(20), estimate_minutes=60
    )

    await h.run_worker()
    assert h.cards_to(ALICE) == []  # held for quiet hours: not even planned yet
    assert await h.count("triggers", type="worker_due_job") == 0
    assert await h.count("jobs", status="pending") == 1

    h.clock.now = at(10, 31)  # quiet hours are over: planned now, so the card is fresh when it is read
    await h.run_worker()
    await h.run_worker()

    cards = h.cards_to(ALICE)
    assert len(cards) == 1
    assert any(v["k"] == "apply" for v in buttons(cards[0].card))
    assert await h.count("triggers", type="worker_due_job") == 1
    assert await h.count("previews", status="ready") == 1


async def test_a_warning_due_before_the_day_window_arrives_when_it_opens(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)  # no quiet hours: the day window (08:00-22:30) alone holds it back
    h.clock.now = at(5, 1)
    await h.add_task(user_id, "实验报告", urgency_threshold_at=at(5, 1), deadline=at(20), estimate_minutes=60)
    await h.run_worker()
    assert h.cards_to(ALICE) == []
    assert await h.count("triggers") == 0

    h.clock.now = at(8)
    await h.run_worker()
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    assert any(v["k"] == "apply" for v in buttons(card.card))


async def test_an_unfinished_report_in_quiet_hours_is_answered_at_once(harness: Harness) -> None:
    h = harness
    user_id = await _quiet_alice(h, "08:30", "10:30")
    task_id = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    await h.add_block(user_id, task_id, at(8), 45)

    await h.message(ALICE, "刚才那个没做完，还差30分钟")
    await h.run_worker()

    assert len(h.cards_to(ALICE)) == 1
