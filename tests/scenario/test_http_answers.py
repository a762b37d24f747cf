"""Chat answers go through the notifications table like cards: stored before Feishu gets its answer, sent at
once, and when that fails (a Feishu error, a process that stopped) sent by the worker with the same uuid:
never lost, never twice, still in order."""

from __future__ import annotations

import sqlalchemy as sa

from store.models import Notification
from tests.fakes.fake_feishu import Fault
from tests.scenario.http_harness import *  # noqa: F403
from tests.scenario.http_harness import ALICE, Harness


async def answers(h: Harness) -> list[tuple[str, int, str | None]]:
    async with h.store.uow(readonly=True) as uow:
        rows = await uow.session.execute(
            sa.select(Notification.status, Notification.attempts, Notification.message_id)
            .where(Notification.kind == "answer")
            .order_by(Notification.next_attempt_at)
        )
        return [(str(s), int(a), m) for s, a, m in rows.all()]


async def test_an_answer_is_stored_and_recorded_as_sent(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    await h.message(ALICE, "/help", message_id="om_help1")
    await h.settle()

    (text,) = h.texts_to(ALICE)
    [(status, attempts, message_id)] = await answers(h)
    assert (status, attempts) == ("sent", 1)
    assert message_id == h.fake.messages_to(ALICE)[-1].message_id

    h.clock.advance(minutes=5)  # past the grace the worker leaves to the process that queued it
    await h.run_worker()
    assert h.texts_to(ALICE) == [text]  # the worker sent nothing again
    assert h.fake.requests("create") == 1


async def test_an_answer_feishu_refused_once_is_sent_by_the_worker_once(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    h.fake.inject("create", Fault.server_error(502))
    await h.message(ALICE, "/help", message_id="om_help2")
    await h.settle()

    assert h.texts_to(ALICE) == []  # the first try met the error
    [(status, attempts, _)] = await answers(h)
    assert (status, attempts) == ("failed", 1)

    await h.run_worker()
    assert h.texts_to(ALICE) == []  # not before the grace: the process that queued it might still send

    h.clock.advance(minutes=1)
    await h.run_worker()
    (text,) = h.texts_to(ALICE)
    assert "/add" in text
    [(status, attempts, message_id)] = await answers(h)
    assert status == "sent"
    assert attempts == 2
    assert message_id == h.fake.messages_to(ALICE)[-1].message_id

    h.clock.advance(minutes=10)
    await h.run_worker()
    assert len(h.texts_to(ALICE)) == 1


async def test_answers_after_a_failed_one_wait_and_keep_their_order(harness: Harness) -> None:
    h = harness
    # A new user's first message: the welcome card, then the answer. The welcome meets a Feishu error.
    h.fake.inject("create", Fault.server_error(503))
    await h.message(ALICE, "hello there, what can you do", message_id="om_first")
    await h.settle()
    assert h.fake.messages_to(ALICE) == []
    assert [s for s, _, _ in await answers(h)] == ["failed", "pending"]  # the answer waits behind it

    h.clock.advance(minutes=1)
    await h.run_worker()
    assert [s for s, _, _ in await answers(h)] == ["sent", "sent"]
    welcome, reply = h.fake.messages_to(ALICE)
    assert welcome.msg_type == "interactive"
    assert reply.msg_type == "text"


async def test_an_answer_sent_but_not_recorded_is_not_sent_twice(harness: Harness) -> None:
    """The process sent it and stopped before recording it: the worker's resend carries the same uuid,
    which Feishu ignores within the hour."""
    h = harness
    await h.add_user(ALICE)
    await h.message(ALICE, "/help", message_id="om_help3")
    await h.settle()
    async with h.store.uow() as uow:  # as if the record never happened
        await uow.session.execute(
            sa.update(Notification)
            .where(Notification.kind == "answer")
            .values(status="pending", attempts=0, message_id=None, sent_at=None)
        )
        await uow.commit()

    h.clock.advance(minutes=1)
    await h.run_worker()
    assert h.fake.requests("create") == 2  # it was sent again ...
    assert len(h.texts_to(ALICE)) == 1  # ... and Feishu kept one message
    [(status, _, message_id)] = await answers(h)
    assert status == "sent"
    assert message_id == h.fake.messages_to(ALICE)[0].message_id


async def test_an_answer_feishu_refuses_for_good_is_not_retried(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    h.fake.inject("create", Fault.invalid_content())
    await h.message(ALICE, "/help", message_id="om_help4")
    await h.settle()
    [(status, attempts, _)] = await answers(h)
    assert (status, attempts) == ("dead", 1)
    h.clock.advance(minutes=5)
    await h.run_worker()
    assert h.fake.requests("create") == 1


async def test_answers_to_two_quick_messages_arrive_in_the_order_they_were_sent(harness: Harness) -> None:
    h = harness
    await h.add_user(ALICE)
    h.fake.inject("create", Fault.slow(0.3))  # the first answer is slow to go out
    await h.message(ALICE, "/add 实验报告 60", message_id="om_quick1")
    await h.message(ALICE, "/done 实验报告", message_id="om_quick2")  # answered while the first is in flight
    await h.settle()

    first, second = h.texts_to(ALICE)
    assert first.startswith("已添加任务「实验报告」")
    assert second.startswith("已完成「实验报告」")
