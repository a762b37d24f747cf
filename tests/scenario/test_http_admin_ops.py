"""An operator's night: a card goes dead at Feishu, the admin finds it with /admin notifications --dead,
retries it with /admin retry and the worker delivers it; /admin stats reports it; every use is audited."""

from __future__ import annotations

from tests.fakes.fake_feishu import Fault
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ADMIN, ALICE, Harness, at


async def _ask(h: Harness, text: str) -> str:
    before = len(h.texts_to(ADMIN))
    await h.message(ADMIN, text)
    await h.settle()
    replies = h.texts_to(ADMIN)[before:]
    assert len(replies) == 1, replies
    return replies[0]


async def test_a_dead_card_is_found_retried_and_delivered(harness: Harness) -> None:
    h = harness
    user_id = await h.add_user(ALICE)
    await h.add_task(user_id, "实验报告", deadline=at(20))

    await h.message(ADMIN, f"/admin trigger {ALICE} 实验报告")
    await h.settle()  # the trigger ran and the admin got the replies
    h.fake.inject("create", Fault.invalid_content())  # the card: 230001, permanent, dead at once
    await h.run_worker()
    assert h.cards_to(ALICE) == []
    assert await h.count("notifications", status="dead") == 1

    listing = await _ask(h, "/admin notifications --dead")
    async with h.store.uow(readonly=True) as uow:
        from scheduler.services import ops

        (dead,) = await ops.notifications(uow, dead=True, limit=5)
        dead_id = dead.id
    assert dead_id in listing
    assert "230001" in listing

    stats = await _ask(h, "/admin stats")
    assert "通知：dead=1" in stats

    done = await _ask(h, f"/admin retry {dead_id}")
    assert dead_id in done
    assert await h.count("notifications", status="pending") == 1

    await h.run_worker()
    assert len(h.cards_to(ALICE)) == 1
    assert await h.count("notifications", status="sent", kind="card") == 1
    again = await _ask(h, f"/admin retry {dead_id}")  # sent: nothing to retry
    assert await h.count("notifications", status="sent", kind="card") == 1
    assert again != done
    for action in ("admin.notifications", "admin.stats", "admin.retry"):
        assert await h.count("audit_log", actor=ADMIN, action=action) >= 1
