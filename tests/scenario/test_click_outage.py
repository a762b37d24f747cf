"""A card press while the database cannot be reached: a toast in words (HTTP 200), never a 500."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
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


async def test_a_press_during_a_database_outage_gets_a_toast_and_can_be_pressed_again(
    sqlite_harness: Harness,
) -> None:
    h = sqlite_harness
    message_id, apply = await _card(h)
    path = Path(str(h.store.engine.url.database))
    await h.store.engine.dispose()
    aside = path.with_suffix(".aside")
    shutil.move(path, aside)
    path.mkdir()  # the database file is now a directory: every new connection fails
    try:
        response = await h.click(ALICE, apply, message_id)
        unknown = await h.click(
            ALICE, {"v": 99, "k": "??"}, message_id
        )  # a foreign value: locale lookup fails
    finally:
        path.rmdir()
        shutil.move(aside, path)

    assert response.status_code == 200
    assert json.loads(response.content)["toast"]["type"] == "error"
    assert unknown.status_code == 200
    assert json.loads(unknown.content)["toast"]["type"] == "error"
    await h.settle()
    assert await h.count("change_sets") == 0

    again = await h.click(ALICE, apply, message_id)  # the database is back: the same press now applies
    assert json.loads(again.content)["toast"]["type"] == "success"
    assert await h.count("change_sets") == 1
