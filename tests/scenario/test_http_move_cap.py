"""The per-day cap on moving existing blocks (2 a day): a report made after the assistant already moved
blocks today is not offered a push of more, through the real HTTP app and pipeline."""

from __future__ import annotations

import sqlalchemy as sa

from store.models import ChangeSet, Preview
from tests.contract import factories as f
from tests.contract.services.builders import rows
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, BOB, Harness, at


async def _morning(h: Harness, open_id: str, name: str) -> str:
    user_id = await h.add_user(open_id, name=name)
    report = await h.add_task(user_id, "实验报告", estimate_minutes=120, deadline=at(22))
    reading = await h.add_task(user_id, "阅读", estimate_minutes=60)
    words = await h.add_task(user_id, "背单词", estimate_minutes=30)
    await h.add_block(user_id, report, at(8), 60)
    await h.add_block(user_id, reading, at(9), 60)
    await h.add_block(user_id, words, at(10), 30)
    return user_id


async def _moved_earlier_today(h: Harness, user_id: str, moves: int) -> None:
    """An apply at 08:10 that moved `moves` blocks (its change set, as apply records it)."""
    then = at(8, 10)
    async with h.store.uow() as uow:
        trigger = uow.triggers.add(f.trigger(then, user_id, status="closed"))
        await uow.flush()
        preview = uow.previews.add(f.preview(then, user_id, trigger.id, status="applied", decision="propose"))
        await uow.flush()
        items = [{"kind": "move_block", "block_id": f"b{i}", "before": {}, "after": {}} for i in range(moves)]
        changes = {"v": 1, "items": items}
        uow.change_sets.add(
            ChangeSet(preview_id=preview.id, user_id=user_id, candidate_id="c1", changes=changes,
                      applied_at=then, created_at=then)
        )  # fmt: skip
        await uow.commit()


def _types(preview: Preview) -> list[str]:
    return [c["type"] for c in preview.candidates]


async def test_a_report_after_two_moves_today_is_not_offered_more_moves(harness: Harness) -> None:
    h = harness
    alice = await _morning(h, ALICE, "Alice")
    bob = await _morning(h, BOB, "Bob")
    await _moved_earlier_today(h, alice, 2)

    await h.message(ALICE, "刚才那个没做完，还差30分钟")
    await h.message(BOB, "刚才那个没做完，还差30分钟")
    await h.run_worker()

    async with h.store.uow(readonly=True) as uow:
        users = dict((await uow.session.execute(sa.text("SELECT id, open_id FROM users"))).all())
    # (the status leaves out the applied preview of the earlier moves, which is "propose" too)
    previews = {users[p.user_id]: p for p in await rows(h.store, Preview, decision="propose", status="ready")}
    assert "push_successors" in _types(previews[BOB])  # no moves yet today: pushing two is fine
    assert "push_successors" not in _types(previews[ALICE])
    assert _types(previews[ALICE])  # still options: a make-up later
    assert bob != alice
