"""Presses recorded by an API process that was killed before finishing them: a worker finishes each exactly
once after the lease, and the card is updated in place."""

from __future__ import annotations

from scheduler.services import presses
from scheduler.services.presses import Press, PressKind
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at, buttons

DEAD = "api:killed-host:4242:deadbeef"


async def _card(h: Harness, open_id: str) -> tuple[str, dict[str, object]]:
    user_id = await h.add_user(open_id, name=open_id)
    await h.add_task(
        user_id, "实验报告", estimate_minutes=90, deadline=at(20), urgency_threshold_at=at(8, 30)
    )
    await h.run_worker()
    (card,) = h.cards_to(open_id)
    apply = next(v for v in buttons(card.card) if v["k"] == "apply")
    return card.message_id, apply


def _press(open_id: str, message_id: str, value: dict[str, object]) -> Press:
    return Press(
        key=f"click:{message_id}:{open_id}:{value}",
        kind=PressKind.APPLY,
        preview_id=str(value["p"]),
        operator_open_id=open_id,
        candidate_id=str(value["c"]),
        token="c-token-1",
    )


async def test_presses_left_unfinished_by_a_killed_process_are_applied_once_and_cards_updated(
    harness: Harness,
) -> None:
    h = harness
    pressed = []
    for who in (ALICE, BOB):
        message_id, value = await _card(h, who)
        press = _press(who, message_id, value)
        recorded = await presses.record(
            h.store, press, h.clock.now, worker_id=DEAD, lease_seconds=30, default_locale="zh"
        )
        assert recorded.status == "recorded"
        pressed.append((message_id, press))
    patches_before = len(h.fake.patches)

    await h.run_worker()  # the lease has not expired yet: the killed process might still be finishing
    assert await h.count("change_sets") == 0

    h.clock.advance(seconds=31)
    await h.run_worker()
    await h.run_worker()  # a second pass finds nothing more to do

    assert await h.count("change_sets") == 2
    assert await h.count("inbox", kind="click", status="processed") == 2
    patched = {p.message_id for p in h.fake.patches[patches_before:]}
    assert patched == {message_id for message_id, _ in pressed}
    # Feishu redelivers the press to a live process: it is answered from the inbox, applied once.
    for _, press in pressed:
        again = await presses.record(
            h.store, press, h.clock.now, worker_id="api:live", lease_seconds=30, default_locale="zh"
        )
        assert again.status == "repeat"
    assert await h.count("change_sets") == 2


async def test_a_press_finished_by_its_process_is_not_taken_over(harness: Harness) -> None:
    h = harness
    message_id, value = await _card(h, ALICE)
    press = _press(ALICE, message_id, value)
    await presses.record(
        h.store, press, h.clock.now, worker_id="api:alive", lease_seconds=30, default_locale="zh"
    )
    finished = await presses.finish(h.store, press, h.clock.now, worker_id="api:alive", grid_minutes=15)
    assert finished.status == "applied"

    h.clock.advance(minutes=5)
    await h.run_worker()

    assert await h.count("change_sets") == 1
    assert await h.count("inbox", kind="click", status="processed") == 1
