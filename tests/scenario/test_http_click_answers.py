"""Presses on answered questions and presses by other people, through the real HTTP app: what the card and
the toast say, in whose language, and that nothing changes."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at, buttons, card_of


async def _asked(h: Harness) -> tuple[Any, list[dict[str, Any]], str]:
    """Two of Alice's blocks just ended and she says "the one just now": the ask card, its choices, and
    the block of the second choice."""
    user_id = await h.add_user(ALICE)
    report = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    reading = await h.add_task(user_id, "阅读论文", estimate_minutes=60, deadline=at(22))
    await h.add_block(user_id, report, at(8), 30)
    chosen = await h.add_block(user_id, reading, at(8, 30), 20)
    await h.message(ALICE, "刚才那个没做完")
    await h.run_worker()
    (asked,) = h.cards_to(ALICE)
    choices = [v for v in buttons(asked.card) if v["k"] == "choose"]
    return asked, choices, chosen


async def _preview_row(h: Harness, preview_id: str) -> tuple[Any, ...]:
    async with h.store.uow(readonly=True) as uow:
        row = (
            await uow.session.execute(
                sa.text("SELECT status, version, updated_at, apply_status FROM previews WHERE id = :id"),
                {"id": preview_id},
            )
        ).one()
    return tuple(row)


def _text(card: dict[str, Any]) -> str:
    return json.dumps(card, ensure_ascii=False)


async def test_pressing_the_same_choice_again_keeps_showing_the_choice(harness: Harness) -> None:
    h = harness
    asked, choices, chosen = await _asked(h)
    pick = next(v for v in choices if v["c"] == chosen)
    first = await h.click(ALICE, pick, asked.message_id)
    assert "已选择" in _text(card_of(first))

    again = await h.click(ALICE, pick, asked.message_id)  # a double tap, or Feishu redelivering the press

    assert again.status_code == 200
    card = _text(card_of(again))
    assert "已选择" in card
    assert "阅读论文" in card
    assert "已忽略" not in card
    await h.run_worker()
    assert await h.count("triggers", type="user_feedback", block_id=chosen) == 1
    assert len(h.cards_to(ALICE)) == 2  # the question and the make-up card for the chosen block


async def test_ignore_after_a_choice_says_it_was_chosen_and_changes_nothing(harness: Harness) -> None:
    h = harness
    asked, choices, chosen = await _asked(h)
    await h.click(ALICE, next(v for v in choices if v["c"] == chosen), asked.message_id)
    await h.settle()  # the chosen block's pipeline runs after the answer: let it finish before comparing
    ignore = next(v for v in buttons(asked.card) if v["k"] == "ignore")
    row = await _preview_row(h, ignore["p"])
    before = await h.snapshot()

    response = await h.click(ALICE, ignore, asked.message_id)  # a stale client still shows Ignore

    body = json.loads(response.content)
    assert body["toast"]["type"] == "warning"
    assert "已经选了" in body["toast"]["content"]
    assert "阅读论文" in body["toast"]["content"]
    assert "已选择" in _text(card_of(response))
    assert await _preview_row(h, ignore["p"]) == row
    after = await h.snapshot()
    assert {k: v for k, v in after.items() if k != "inbox"} == {
        k: v for k, v in before.items() if k != "inbox"
    }
    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 2  # the make-up card still comes, as the toast says


async def test_another_choice_after_answering_names_the_first_choice(harness: Harness) -> None:
    h = harness
    asked, choices, chosen = await _asked(h)
    await h.click(ALICE, next(v for v in choices if v["c"] == chosen), asked.message_id)

    other = await h.click(ALICE, next(v for v in choices if v["c"] != chosen), asked.message_id)

    body = json.loads(other.content)
    assert body["toast"]["type"] == "error"
    assert "阅读论文" in body["toast"]["content"]
    assert "已选择" in _text(card_of(other))
    assert await h.count("triggers", type="user_feedback") == 2  # the report and the one choice


async def test_ignore_before_any_choice_still_ignores(harness: Harness) -> None:
    h = harness
    asked, _, _ = await _asked(h)
    ignore = next(v for v in buttons(asked.card) if v["k"] == "ignore")

    response = await h.click(ALICE, ignore, asked.message_id)

    assert "已忽略" in _text(card_of(response))
    again = await h.click(ALICE, ignore, asked.message_id)
    assert "已忽略" in _text(card_of(again))
    assert await h.count("triggers", type="user_feedback") == 1


async def _alices_due_card(h: Harness) -> tuple[Any, dict[str, Any]]:
    user_id = await h.add_user(ALICE)
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    return card, next(v for v in buttons(card.card) if v["k"] == "apply")


async def test_toasts_follow_the_language_of_whoever_pressed(harness: Harness) -> None:
    h = harness
    card, apply = await _alices_due_card(h)
    await h.add_user(BOB, locale="en", name="Bob")
    before = await h.snapshot()

    not_owner = json.loads((await h.click(BOB, apply, card.message_id)).content)
    gone = json.loads((await h.click(BOB, {"v": 1, "k": "undo", "p": "gone"}, "om_bob")).content)
    stale = json.loads((await h.click(BOB, {"v": 9, "k": "undo", "p": "x"}, "om_bob")).content)

    assert not_owner["toast"]["content"] == "This card belongs to someone else"
    assert gone["toast"]["type"] == "error"
    assert gone["toast"]["content"].isascii()
    assert stale["toast"]["content"] == "This button no longer works."
    assert await h.snapshot() == before
    # the card's owner still reads hers in Chinese
    mine = json.loads((await h.click(ALICE, apply, card.message_id)).content)
    assert mine["toast"]["content"] == "已应用"


async def test_someone_the_bot_has_never_seen_gets_the_configured_language(harness: Harness) -> None:
    h = harness
    card, apply = await _alices_due_card(h)

    response = json.loads((await h.click("ou_stranger", apply, card.message_id)).content)

    assert response["toast"]["content"] == "这张卡片属于别人，不能替他操作"
    assert await h.count("users", open_id="ou_stranger") == 0
