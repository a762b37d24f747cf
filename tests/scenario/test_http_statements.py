"""The SQL a card press costs, counted through the real HTTP app (statement counts are deterministic).

Ceilings (docs/architecture.md, "What the hot paths cost"), the same on SQLite and MariaDB: an Apply press
alone is 18 statements in two transactions: the record (the preview with its owner, the inbox insert), the age
of the presser's Feishu busy-time copy (a read outside any transaction), and the apply (preview and user
locked, the target task locked, fixed events, Feishu busy time and blocks for the overlap probe, the block,
outbox and change set inserts, the user's schedule version, the preview, the inbox settle, and the trigger and
change set the answer's card shows), plus the calendar connection lookup. A repeated press is 5 statements and
no commit: the preview with its owner and task, the inbox insert that finds the press, the inbox row, and the
two reads of the card it is answered with (presses of the same moment together: test_press_batches)."""

from __future__ import annotations

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at, buttons
from tests.statements import count_statements

# 17, plus one: the apply looks up whether the user connected a calendar (to queue writing the blocks to it).
APPLY_PRESS_CEILING = 18
APPLY_PRESS_TRANSACTIONS = 2
# A repeat reads who owns the preview (all a first press needs), then the preview itself for its card: 6.
REPEAT_PRESS_CEILING = 6


async def _applies(h: Harness) -> tuple[str, list[dict[str, object]]]:
    user_id = await h.add_user(ALICE)
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    (card,) = h.cards_to(ALICE)
    return card.message_id, [v for v in buttons(card.card) if v["k"] == "apply"]


async def test_an_apply_press_costs_two_transactions_and_a_bounded_number_of_statements(
    harness: Harness,
) -> None:
    h = harness
    message_id, applies = await _applies(h)

    with count_statements(h.store) as log:
        response = await h.click(ALICE, applies[0], message_id)

    assert response.status_code == 200
    assert await h.count("change_sets") == 1
    assert log.count <= APPLY_PRESS_CEILING, str(log)
    assert log.commits == APPLY_PRESS_TRANSACTIONS, str(log)
    assert log.verbs["INSERT"] <= 5, str(
        log
    )  # inbox, block, change set, outbox (+ SQLite's RETURNING-free ids)


async def test_a_repeated_press_writes_nothing(harness: Harness) -> None:
    h = harness
    message_id, applies = await _applies(h)
    await h.click(ALICE, applies[0], message_id)

    with count_statements(h.store) as log:
        again = await h.click(ALICE, applies[0], message_id)

    assert again.status_code == 200
    assert await h.count("change_sets") == 1
    assert log.count <= REPEAT_PRESS_CEILING, str(log)
    assert log.verbs["UPDATE"] == 0, str(log)
    assert log.verbs["DELETE"] == 0, str(log)
    assert log.verbs["INSERT"] <= 1, str(log)  # the inbox insert that finds the press already there
