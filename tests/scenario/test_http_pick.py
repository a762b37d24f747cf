"""Another time, chosen by the user: every proposal card has a date-time picker; the start it sends is
checked like the planner's options (now, the 24-hour window, the day window, fixed events and other
blocks, the schedule's version) and applied through the same path, once, or refused in words with nothing
changed."""

from __future__ import annotations

import json
from typing import Any

from store.models import Block, FixedEvent, User
from tests.contract.services.builders import rows
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, TZ, Harness, at, card_of


def _pick_value(card: dict[str, Any]) -> dict[str, Any]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "picker_datetime" and node["behaviors"][0]["value"]["k"] == "pick":
                found.append(node["behaviors"][0]["value"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    assert len(found) == 1, "a proposal card has one 'another time' picker"
    return found[0]


async def _card(h: Harness) -> tuple[Any, str, str]:
    """Alice's 60-minute report is due at 18:00; a class fills 14:00-15:00."""
    user_id = await h.add_user(ALICE)
    async with h.store.uow() as uow:
        uow.events.add(
            FixedEvent(user_id=user_id, title="高数课", start=at(14), end=at(15), created_at=h.clock.now,
                       updated_at=h.clock.now)
        )  # fmt: skip
        await uow.commit()
    task_id = await h.add_task(
        user_id, "实验报告", estimate_minutes=60, deadline=at(18), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    return card, user_id, task_id


async def _pick(h: Harness, card: Any, when: str, who: str = ALICE) -> Any:
    value = _pick_value(card.card)
    return await h.click(who, value, card.message_id, option=when, tag="picker_datetime")


async def test_a_picked_time_that_does_not_fit_is_refused_in_words(harness: Harness) -> None:
    h = harness
    card, _, _ = await _card(h)
    before = await h.snapshot()
    refusals = {
        "2026-11-30 14:30 +0800": "冲突",  # the class
        "2026-11-30 08:00 +0800": "已经过去",
        "2026-11-30 23:30 +0800": "作息时间",  # after the day window (22:30)
        "2026-12-02 10:00 +0800": "24 小时",
        "tomorrow-ish": "没看懂",
    }
    for when, said in refusals.items():
        response = await _pick(h, card, when)
        body = json.loads(response.content)
        assert body["toast"]["type"] == "error", when
        assert said in body["toast"]["content"], (when, body["toast"])
    after = await h.snapshot()
    assert {t: after[t] for t in ("blocks", "change_sets", "tasks")} == {
        t: before[t] for t in ("blocks", "change_sets", "tasks")
    }
    assert await h.count("previews", status="ready") == 1  # still open for another pick or an option


async def test_a_picked_time_is_applied_once_and_can_be_undone(harness: Harness) -> None:
    h = harness
    card, user_id, task_id = await _card(h)

    response = await _pick(h, card, "2026-11-30 16:10 +0800")
    body = json.loads(response.content)
    assert body["toast"]["type"] == "success", body
    assert "16:10" in json.dumps(card_of(response), ensure_ascii=False)
    (block,) = await rows(h.store, Block, user_id=user_id)
    assert (block.task_id, block.start.astimezone(TZ), block.end.astimezone(TZ)) == (
        task_id,
        at(16, 10),
        at(17, 10),
    )
    assert await h.count("previews", status="applied") == 1
    (user,) = await rows(h.store, User, id=user_id)
    assert user.accepted_hours == {"16": 1.0}  # the hour the user accepted feeds the preference fit

    # the same press delivered again, and a second pick on the applied card: nothing more is written
    rows_before = await h.snapshot()
    await _pick(h, card, "2026-11-30 16:10 +0800")
    again = await _pick(h, card, "2026-11-30 19:00 +0800")
    assert json.loads(again.content)["toast"]["type"] == "error"
    assert {k: v for k, v in (await h.snapshot()).items() if k != "inbox"} == {
        k: v for k, v in rows_before.items() if k != "inbox"
    }
    assert len(await rows(h.store, Block, user_id=user_id)) == 1

    undo = next(
        b["behaviors"][0]["value"]
        for b in _walk_buttons(card_of(response))
        if b["behaviors"][0]["value"]["k"] == "undo"
    )
    undone = await h.click(ALICE, undo, card.message_id)
    assert json.loads(undone.content)["toast"]["type"] == "success"
    assert await rows(h.store, Block, user_id=user_id) == []


async def test_a_pick_is_refused_after_the_schedule_changed(harness: Harness) -> None:
    h = harness
    card, user_id, task_id = await _card(h)
    # another block lands on the schedule after the card was made: the card's base version is stale
    await h.add_block(user_id, task_id, at(20), 30)
    async with h.store.uow() as uow:
        user = await uow.users.get(user_id)
        assert user is not None
        user.schedule_version += 1
        await uow.commit()

    response = await _pick(h, card, "2026-11-30 16:10 +0800")
    assert json.loads(response.content)["toast"]["type"] == "error"
    blocks = await rows(h.store, Block, user_id=user_id)
    assert [b.start.astimezone(TZ) for b in blocks] == [at(20)]


async def test_only_the_owner_may_pick(harness: Harness) -> None:
    h = harness
    card, user_id, _ = await _card(h)
    await h.add_user(BOB, name="Bob")
    response = await _pick(h, card, "2026-11-30 16:10 +0800", who=BOB)
    assert json.loads(response.content)["toast"]["type"] in ("warning", "error")
    assert await rows(h.store, Block, user_id=user_id) == []


def _walk_buttons(card: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("tag") == "button":
                out.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(card)
    return out
