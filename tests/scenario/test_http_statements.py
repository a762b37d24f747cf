"""The SQL a card press costs, counted through the real HTTP app (statement counts are deterministic).

Ceilings (docs/architecture.md, "What a press costs"): an Apply press is two transactions: the record (the
preview with its owner, the inbox insert) and the apply (preview and user locked, the target task locked,
fixed events and blocks for the overlap probe, the block insert, the change set, the preview, the user's
schedule version, the outbox row, the inbox settle, and the two reads the answer's card needs). A repeated
press reads and writes nothing but the lookups that answer it."""

from __future__ import annotations

from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness, at, buttons
from tests.statements import count_statements

APPLY_PRESS_CEILING = 16
APPLY_PRESS_TRANSACTIONS = 2
REPEAT_PRESS_CEILING = 9


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
    assert log.verbs["INSERT"] <= 5, str(log)  # inbox, block, change set, outbox (+ SQLite's RETURNING-free ids)


async def test_a_repeated_press_writes_nothing(harness: Harness) -> None:
    h = harness
    message_id, applies = await _applies(h)
    await h.click(ALICE, applies[0], message_id)

    with count_statements(h.store) as log:
        again = await h.click(ALICE, applies[0], message_id)

    assert again.status_code == 200
    assert await h.count("change_sets") == 1
    assert log.count <= REPEAT_PRESS_CEILING, str(log)
    assert log.verbs["UPDATE"] == 0 and log.verbs["DELETE"] == 0, str(log)
    assert log.verbs["INSERT"] <= 1, str(log)  # the inbox insert that finds the press already there
