"""A due job's card arrives at the fake Feishu; clicks on it through the real HTTP app."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
import time
from typing import Any

from bot.handlers.deps import CardUpdates
from store.engine import sqlite_path
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at, buttons, card_of


async def _due_card(h: Harness) -> tuple[Any, list[dict[str, Any]]]:
    """Alice's urgent report without a block: the worker's pass sends one card."""
    user_id = await h.add_user(ALICE)
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    cards = h.cards_to(ALICE)
    assert len(cards) == 1
    return cards[0], buttons(cards[0].card)


def _applies(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in values if v["k"] == "apply"]


async def test_due_job_card_then_apply_replaces_the_card_and_writes_blocks(harness: Harness) -> None:
    h = harness
    card, values = await _due_card(h)
    applies = _applies(values)
    assert applies, "a propose card has Apply buttons"
    assert await h.count("blocks") == 0

    response = await h.click(ALICE, applies[0], card.message_id)

    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["toast"]["type"] == "success"
    replaced = card_of(response)
    assert replaced["header"]["template"] == "green"  # the applied card
    assert any(v["k"] == "undo" for v in buttons(replaced))
    assert not _applies(buttons(replaced))
    assert await h.count("blocks", source="assistant") >= 1
    assert await h.count("change_sets") == 1


async def test_the_same_click_twice_applies_once(harness: Harness) -> None:
    h = harness
    card, values = await _due_card(h)
    first = _applies(values)[0]
    await h.click(ALICE, first, card.message_id)
    blocks = await h.count("blocks")

    again = await h.click(ALICE, first, card.message_id)  # a redelivery of the same press
    other = _applies(values)[-1]
    second_option = await h.click(ALICE, other, card.message_id)  # a different option after applying

    assert again.status_code == 200
    assert second_option.status_code == 200
    assert card_of(again)["header"]["template"] == "green"
    assert await h.count("blocks") == blocks
    assert await h.count("change_sets") == 1


async def test_another_users_click_is_refused_and_writes_nothing(harness: Harness) -> None:
    h = harness
    card, values = await _due_card(h)
    await h.add_user(BOB, name="Bob")
    before = await h.snapshot()

    response = await h.click(BOB, _applies(values)[0], card.message_id)

    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["toast"]["type"] == "warning"
    assert "card" not in body
    assert await h.snapshot() == before


async def test_ignore_replaces_the_card_and_changes_no_schedule(harness: Harness) -> None:
    h = harness
    card, values = await _due_card(h)
    ignore = next(v for v in values if v["k"] == "ignore")

    response = await h.click(ALICE, ignore, card.message_id)

    assert card_of(response)["header"]["template"] == "grey"
    assert await h.count("blocks") == 0
    assert await h.count("previews", status="ignored") == 1


async def test_undo_after_apply_removes_the_blocks(harness: Harness) -> None:
    h = harness
    card, values = await _due_card(h)
    applied = await h.click(ALICE, _applies(values)[0], card.message_id)
    undo = next(v for v in buttons(card_of(applied)) if v["k"] == "undo")

    response = await h.click(ALICE, undo, card.message_id)

    assert json.loads(response.content)["toast"]["type"] == "success"
    assert await h.count("blocks") == 0

    # a stale client still shows Apply: pressing another option says it was undone, and writes nothing
    again = await h.click(ALICE, _applies(values)[1], card.message_id)
    assert "撤销" in json.loads(again.content)["toast"]["content"]
    assert await h.count("blocks") == 0


async def test_a_click_past_the_budget_gets_a_toast_now_and_a_card_update_later(harness: Harness) -> None:
    h = harness
    card, values = await _due_card(h)
    deps = h.app.state.deps
    deps.config = dataclasses.replace(deps.config, click_budget_seconds=0.0)

    response = await h.post(
        h.cb.card_action(
            ALICE, _applies(values)[0], open_message_id=card.message_id, callback_token="c-late"
        ),
        "/feishu/card",
    )
    await h.settle()

    body = json.loads(response.content)
    assert body["toast"]["type"] == "info"
    working = card_of(response)  # the card says it is being applied, with nothing to press twice
    assert working["header"]["template"] == "blue"
    # the press was recorded before the answer (which names its task, read by the record)
    assert working["header"]["title"]["content"] == "正在处理：实验报告"
    assert not buttons(working)
    updates = h.fake.card_updates
    assert [u.token for u in updates] == ["c-late"]
    assert updates[0].card["header"]["template"] == "green"
    assert await h.count("change_sets") == 1


async def test_a_press_is_answered_only_once_it_is_recorded(sqlite_harness: Harness) -> None:
    """ "Working" promises the press will be done even if this process stops: the answer waits for the
    press's inbox row, here held back by another writer on the SQLite file, past the budget."""
    h = sqlite_harness
    card, values = await _due_card(h)
    deps = h.app.state.deps
    deps.config = dataclasses.replace(deps.config, click_budget_seconds=0.0)
    path = sqlite_path(h.components.settings.database_url)
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # the one write lock, as a long transaction of another process holds it
    released: list[float] = []

    async def release() -> None:
        await asyncio.sleep(0.3)
        released.append(time.monotonic())
        other.execute("COMMIT")

    releasing = asyncio.create_task(release())
    try:
        response = await h.post(
            h.cb.card_action(ALICE, _applies(values)[0], open_message_id=card.message_id), "/feishu/card"
        )
        answered = time.monotonic()
    finally:
        await releasing
        other.close()
    await h.settle()

    assert released
    assert answered >= released[0]  # not before the press could be written
    assert json.loads(response.content)["toast"]["type"] == "info"
    assert card_of(response)["header"]["title"]["content"] == "正在处理：实验报告"
    assert await h.count("inbox", kind="click") == 1
    assert await h.count("change_sets") == 1


async def test_a_late_card_goes_by_patch_while_delayed_updates_are_under_way(harness: Harness) -> None:
    """Feishu limits delayed updates and message PATCHes each on its own: while this process has delayed
    updates under way, the next late card is shown by a PATCH of its message instead."""
    h = harness
    card, values = await _due_card(h)
    deps = h.app.state.deps
    deps.config = dataclasses.replace(deps.config, click_budget_seconds=0.0)
    deps.card_updates.delayed = 1  # another press's delayed update is still waiting for its send slot
    patches_before = len(h.fake.patches)

    response = await h.post(
        h.cb.card_action(
            ALICE, _applies(values)[0], open_message_id=card.message_id, callback_token="c-late"
        ),
        "/feishu/card",
    )
    await h.settle()

    assert json.loads(response.content)["toast"]["type"] == "info"
    assert h.fake.card_updates == []
    (patch,) = h.fake.patches[patches_before:]
    assert patch.message_id == card.message_id
    assert patch.card["header"]["template"] == "green"
    assert deps.card_updates.patches == 0  # nothing left counted as under way
    assert await h.count("change_sets") == 1


def test_card_updates_take_the_way_with_fewer_under_way() -> None:
    routes = CardUpdates()
    assert not routes.by_patch("c-token", "om_1")  # nothing under way: the delayed update
    routes.delayed = 1
    assert routes.by_patch("c-token", "om_1")
    routes.patches = 1
    assert not routes.by_patch("c-token", "om_1")
    assert routes.by_patch("", "om_1")  # no token: only a PATCH can update it
    routes.patches = 0
    assert not routes.by_patch("c-token", "")  # no message id: only the delayed update


async def test_a_press_whose_card_cannot_be_drawn_is_answered_with_a_toast(harness: Harness) -> None:
    h = harness
    card, values = await _due_card(h)
    async with h.store.uow() as uow:  # a stored preview no card can show (a propose with no option)
        for preview in await uow.previews.list_by_ids([values[0]["p"]]):
            preview.candidates = []
        await uow.commit()

    response = await h.click(ALICE, _applies(values)[0], card.message_id)

    assert response.status_code == 200
    body = json.loads(response.content)
    assert body["toast"]["type"] == "error"
    assert "card" not in body
    assert await h.count("blocks") == 0
