"""No option meets the deadline: the card says so first, offers the late options without a filled "apply
recommended", and lets the user move the deadline (a date-time picker), be asked again later, or drop the
task; each through the real HTTP app, once, for the card's owner only."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from store.models import FixedEvent, Job, Task
from tests.contract.services.builders import rows
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, TZ, Harness, at, buttons, card_of


def _picker(card: dict[str, Any], kind: str = "deadline") -> dict[str, Any]:
    def walk(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if node.get("tag") == "picker_datetime" and node["behaviors"][0]["value"]["k"] == kind:
                return node
            return next((f for v in node.values() if (f := walk(v)) is not None), None)
        if isinstance(node, list):
            return next((f for v in node if (f := walk(v)) is not None), None)
        return None

    found = walk(card)
    assert found is not None, "a late card has a date-time picker"
    return found


async def _late_card(h: Harness) -> tuple[Any, str]:
    """Alice's 120-minute essay is due at 10:00 and it is 09:00: nothing finishes in time."""
    user_id = await h.add_user(ALICE)
    task_id = await h.add_task(
        user_id, "课程论文", estimate_minutes=120, deadline=at(10), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    return card, task_id


async def _task(h: Harness, task_id: str) -> Task:
    (task,) = await rows(h.store, Task, id=task_id)
    return task


async def _job(h: Harness, task_id: str) -> Job:
    (job,) = await rows(h.store, Job, task_id=task_id)
    return job


def _kind(values: list[dict[str, Any]], kind: str, choice: str | None = None) -> dict[str, Any]:
    return next(v for v in values if v["k"] == kind and (choice is None or v.get("c") == choice))


async def test_the_late_card_says_so_first_and_offers_the_other_ways(harness: Harness) -> None:
    h = harness
    card, _ = await _late_card(h)
    elements = card.card["body"]["elements"]
    assert "没有方案能在截止时间 11-30 10:00 前完成「课程论文」" in elements[0]["content"]
    assert "primary_filled" not in json.dumps(card.card)  # no "apply recommended" as if all were well
    assert "应用推荐方案" not in json.dumps(card.card, ensure_ascii=False)
    values = buttons(card.card)
    assert [v for v in values if v["k"] == "apply"]  # the best late options
    assert [v["k"] for v in values if v["k"] != "apply"] == ["snooze", "snooze", "drop", "ignore"]
    assert _picker(card.card)["behaviors"][0]["value"]["k"] == "deadline"


async def test_snooze_asks_again_later_and_a_second_press_does_nothing_twice(harness: Harness) -> None:
    h = harness
    card, task_id = await _late_card(h)
    snooze = _kind(buttons(card.card), "snooze", "3h")

    response = await h.click(ALICE, snooze, card.message_id)

    body = json.loads(response.content)
    assert body["toast"]["type"] == "info"
    assert "12:00 再来问你" in json.dumps(card_of(response), ensure_ascii=False)
    job = await _job(h, task_id)
    assert (job.status, job.trigger_at.astimezone(TZ)) == ("pending", at(12))
    assert await h.count("previews", status="ignored") == 1
    rows = await h.snapshot()

    again = await h.click(ALICE, snooze, card.message_id)
    assert "12:00 再来问你" in json.dumps(card_of(again), ensure_ascii=False)
    assert await h.snapshot() == rows
    # Nothing comes back before 12:00, and a fresh card comes then.
    h.clock.now = at(11, 59)
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 1
    h.clock.now = at(12)
    await h.run_worker()
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 2


async def test_the_picker_moves_the_deadline_and_rearms_the_job(harness: Harness) -> None:
    h = harness
    card, task_id = await _late_card(h)
    value = _picker(card.card)["behaviors"][0]["value"]

    unreadable = await h.click(ALICE, value, card.message_id, option="next week", tag="picker_datetime")
    assert json.loads(unreadable.content)["toast"]["type"] == "error"
    past = await h.click(
        ALICE, value, card.message_id, option="2026-11-29 18:00 +0800", tag="picker_datetime"
    )
    assert "已经过去" in json.loads(past.content)["toast"]["content"]
    assert (await _task(h, task_id)).deadline.astimezone(TZ) == at(10)  # type: ignore[union-attr]

    moved = await h.click(
        ALICE, value, card.message_id, option="2026-12-01 18:00 +0800", tag="picker_datetime"
    )
    assert json.loads(moved.content)["toast"]["type"] == "success"
    assert "12-01 18:00" in json.dumps(card_of(moved), ensure_ascii=False)
    task = await _task(h, task_id)
    assert task.deadline is not None
    assert task.deadline.astimezone(TZ) == at(18) + timedelta(days=1)
    job = await _job(h, task_id)
    assert (job.status, job.trigger_at.astimezone(TZ)) == ("pending", at(18))  # a day before, as /add

    other = await h.click(
        ALICE, value, card.message_id, option="2026-12-02 18:00 +0800", tag="picker_datetime"
    )
    assert json.loads(other.content)["toast"]["type"] == "error"  # the card already moved it
    assert (await _task(h, task_id)).deadline == task.deadline


async def test_drop_marks_the_task_canceled_and_cancels_its_job(harness: Harness) -> None:
    h = harness
    card, task_id = await _late_card(h)
    drop = _kind(buttons(card.card), "drop")

    response = await h.click(ALICE, drop, card.message_id)

    assert json.loads(response.content)["toast"]["type"] == "success"
    assert "已放弃「课程论文」" in json.dumps(card_of(response), ensure_ascii=False)
    assert (await _task(h, task_id)).status == "canceled"
    assert (await _job(h, task_id)).status != "pending"  # nothing left to fire
    assert await h.count("blocks") == 0
    h.clock.now = at(9) + timedelta(days=1)
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 1  # no more reminders


async def test_someone_elses_late_card_changes_nothing(harness: Harness) -> None:
    h = harness
    card, task_id = await _late_card(h)
    await h.add_user(BOB, name="Bob")
    rows = await h.snapshot()
    for value in buttons(card.card):
        if value["k"] in ("drop", "snooze"):
            response = await h.click(BOB, value, card.message_id)
            assert json.loads(response.content)["toast"]["type"] == "warning"
    assert await h.snapshot() == rows
    assert (await _task(h, task_id)).status == "open"


async def test_a_warning_with_nothing_to_place_offers_the_same_ways_out(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    async with h.store.uow() as uow:  # the whole day window is taken today and tomorrow morning
        for start, end in ((at(8), at(22, 30)), (at(8) + timedelta(days=1), at(10) + timedelta(days=1))):
            uow.events.add(
                FixedEvent(user_id=user_id, title="考试周", start=start, end=end, created_at=h.clock.now,
                           updated_at=h.clock.now)
            )  # fmt: skip
        await uow.commit()
    task_id = await h.add_task(
        user_id, "课程论文", estimate_minutes=120, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    text = json.dumps(card.card, ensure_ascii=False)
    assert "截止时间 11-30 20:00 前排不下「课程论文」" in text
    assert [v["k"] for v in buttons(card.card) if v["k"] != "apply"] == ["snooze", "snooze", "drop", "ignore"]

    response = await h.click(ALICE, _kind(buttons(card.card), "drop"), card.message_id)
    assert "已放弃「课程论文」" in json.dumps(card_of(response), ensure_ascii=False)
    assert (await _task(h, task_id)).status == "canceled"
