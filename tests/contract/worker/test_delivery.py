"""Card delivery against the fake Feishu: each platform failure ends in the documented state after the
documented number of attempts; quiet hours and the daily cap defer; an expired preview is skipped."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import update

from bot.feishu.client import FeishuClient
from bot.sender import FeishuSender
from scheduler.worker.delivery import Delivery
from scheduler.worker.worker import Worker
from store import Store
from store.models import Notification, Preview
from tests.contract.worker.conftest import CONFIG, notification, seed_preview
from tests.fakes.fake_feishu import FakeFeishu, Fault


async def test_a_card_is_sent_once_with_the_notification_id_as_uuid(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    await worker.run_once(now)
    await worker.run_once(now + timedelta(minutes=1))
    [message] = fake.messages
    assert (message.receive_id, message.uuid) == (ids["open_id"], ids["notification"])
    assert message.card["config"]["update_multi"] is True
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts, row.message_id, row.claimed_by) == ("sent", 1, message.message_id, None)
    async with store.uow(readonly=True) as uow:
        preview = await uow.previews.get(ids["preview"])
        assert preview is not None
        assert preview.card_message_id == message.message_id


async def test_rate_limited_with_reset_header_waits_for_the_reset(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    fake.inject("create", Fault.rate_limited(reset_seconds=40))
    await worker.run_once(now)
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts, row.last_error_code) == ("failed", 1, "99991400")
    # The backoff alone would retry after 5 s; the reset header says 40.
    assert row.next_attempt_at == now + timedelta(seconds=40)
    await worker.run_once(now + timedelta(seconds=39))
    assert fake.requests("create") == 1
    await worker.run_once(now + timedelta(seconds=40))
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts) == ("sent", 2)
    assert len(fake.messages) == 1


async def test_server_error_is_retried_after_backoff(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    fake.inject("create", Fault.server_error(502))
    await worker.run_once(now)
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts, row.last_error_code) == ("failed", 1, "http_502")
    assert row.next_attempt_at == now + timedelta(seconds=5)
    await worker.run_once(now + timedelta(seconds=5))
    assert (await notification(store, ids["notification"])).status == "sent"
    assert (fake.requests("create"), len(fake.messages)) == (2, 1)


async def test_timeout_is_retried_and_the_uuid_keeps_it_to_one_message(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    fake.inject("create", Fault.slow(1.0))  # longer than the client's 0.5 s timeout
    await worker.run_once(now)
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts, row.last_error_code) == ("failed", 1, "timeout")
    await worker.run_once(now + timedelta(seconds=5))
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts) == ("sent", 2)
    await asyncio.sleep(1.0)  # let the slow first request reach the fake's store too
    assert [m.uuid for m in fake.messages] == [ids["notification"]]


async def test_user_rate_limit_230020_is_retried(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    fake.inject("create", Fault.user_rate_limited())
    await worker.run_once(now)
    row = await notification(store, ids["notification"])
    assert (row.status, row.last_error_code, row.next_attempt_at) == (
        "failed",
        "230020",
        now + timedelta(seconds=5),
    )
    await worker.run_once(now + timedelta(seconds=5))
    assert (await notification(store, ids["notification"])).status == "sent"
    assert len(fake.messages) == 1


async def test_token_expired_is_refreshed_once_within_the_same_attempt(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    fake.inject("create", Fault.token_expired())
    await worker.run_once(now)
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts) == ("sent", 1)
    assert fake.token_requests == 2
    assert (fake.requests("create"), len(fake.messages)) == (2, 1)


async def test_invalid_content_230001_is_dead_at_once_and_never_retried(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    fake.inject("create", Fault.invalid_content())
    await worker.run_once(now)
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts, row.last_error_code) == ("dead", 1, "230001")
    await worker.run_once(now + timedelta(hours=1))
    assert fake.requests("create") == 1
    assert fake.messages == []


async def test_backoff_schedule_then_dead_after_five_attempts(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now, expires_in=timedelta(hours=2))
    fake.inject("create", *[Fault.server_error(503)] * 6)
    at = now
    for attempt, wait in enumerate((5, 30, 120, 600), start=1):
        await worker.run_once(at)
        row = await notification(store, ids["notification"])
        assert (row.status, row.attempts) == ("failed", attempt)
        assert row.next_attempt_at == at + timedelta(seconds=wait)
        await worker.run_once(at + timedelta(seconds=wait - 1))  # not yet due
        assert fake.requests("create") == attempt
        at += timedelta(seconds=wait)
    await worker.run_once(at)
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts, row.last_error_code) == ("dead", 5, "http_503")
    await worker.run_once(at + timedelta(minutes=30))
    assert fake.requests("create") == 5
    assert fake.messages == []


async def test_quiet_hours_defer_the_card_to_their_end(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    late = now.replace(hour=23, minute=0)  # 23:00 Asia/Shanghai
    ids = await seed_preview(
        store, late, expires_in=timedelta(hours=12), user_kw={"quiet_start": "22:00", "quiet_end": "08:00"}
    )
    await worker.run_once(late)
    row = await notification(store, ids["notification"])
    morning = late.replace(hour=8) + timedelta(days=1)
    assert (row.status, row.attempts, row.last_error_code) == ("deferred", 0, "quiet_hours")
    assert row.next_attempt_at == morning
    await worker.run_once(morning - timedelta(minutes=1))
    assert fake.messages == []
    await worker.run_once(morning)
    assert (await notification(store, ids["notification"])).status == "sent"
    assert len(fake.messages) == 1


async def test_daily_cap_defers_to_the_next_local_day(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    first = await seed_preview(store, now, user_kw={"daily_card_cap": 1}, expires_in=timedelta(hours=20))
    async with store.uow() as uow:
        user = await uow.users.get(first["user"])
        assert user is not None
        open_id = user.open_id
    # A second preview for the same user (another user row cannot share the open_id, so reuse it).
    second = await _second_preview(store, now, first["user"])
    await worker.run_once(now)
    statuses = {
        (await notification(store, first["notification"])).status,
        (await notification(store, second)).status,
    }
    assert statuses == {"sent", "deferred"}
    deferred = next(
        n
        for n in [await notification(store, first["notification"]), await notification(store, second)]
        if n.status == "deferred"
    )
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0)
    assert (deferred.last_error_code, deferred.next_attempt_at) == ("daily_cap", midnight)
    assert [m.receive_id for m in fake.messages] == [open_id]
    await worker.run_once(midnight)
    assert (await notification(store, deferred.id)).status == "sent"
    assert len(fake.messages) == 2


async def test_two_workers_cannot_both_take_the_days_last_card(
    db_url: str, store: Store, feishu: FeishuClient, fake: FakeFeishu, now: datetime
) -> None:
    """Each worker holds one of the user's two cards and has decided to send it (the cap of 1 was free
    when it looked); the send is checked again under the user's row lock: one card goes, one waits."""
    first = await seed_preview(store, now, user_kw={"daily_card_cap": 1}, expires_in=timedelta(hours=20))
    second = await _second_preview(store, now, first["user"])
    other = Store(db_url)
    try:
        workers = [Delivery(s, FeishuSender(feishu), CONFIG, f"w{i}") for i, s in enumerate((store, other))]
        async with store.uow() as uow:
            for worker_id, row_id in (("w0", first["notification"]), ("w1", second)):
                await uow.session.execute(
                    update(Notification)
                    .where(Notification.id == row_id)
                    .values(claimed_by=worker_id, claimed_until=now + timedelta(seconds=30))
                )
            await uow.commit()
        plans = [
            await w._prepare(row_id, now)
            for w, row_id in zip(workers, (first["notification"], second), strict=True)
        ]
        assert [p.action for p in plans] == ["send", "send"]  # both looked before either sent
        outcomes = await asyncio.gather(
            *(
                w._send(row_id, plan, lambda: now)
                for w, row_id, plan in zip(workers, (first["notification"], second), plans, strict=True)
            )
        )
    finally:
        await other.dispose()
    assert sorted(outcomes) == ["deferred", "sent"]
    assert len(fake.messages) == 1
    held = [await notification(store, i) for i in (first["notification"], second)]
    deferred = next(n for n in held if n.status == "deferred")
    assert (deferred.last_error_code, deferred.attempts, deferred.claimed_by) == ("daily_cap", 0, None)


async def _second_preview(store: Store, now: datetime, user_id: str) -> str:
    from store.enums import NotificationKind
    from tests.contract import factories as f
    from tests.contract.worker.conftest import candidate

    async with store.uow() as uow:
        task = uow.tasks.add(f.task(now, user_id, title="复习"))
        trigger = uow.triggers.add(f.trigger(now, user_id, task_id=task.id, status="preview_generated"))
        preview = uow.previews.add(
            f.preview(
                now,
                user_id,
                trigger.id,
                task_id=task.id,
                decision="propose",
                candidates=[candidate("c1")],
                chosen_candidate_id="c1",
                expires_at=now + timedelta(hours=20),
            )
        )
        await uow.flush()
        row, _ = await uow.notifications.insert_if_absent(
            f"test:{preview.id}",
            user_id=user_id,
            kind=NotificationKind.CARD,
            payload={"preview_id": preview.id},
            now=now,
            preview_id=preview.id,
        )
        await uow.commit()
        return row.id


async def test_a_card_whose_preview_expired_is_skipped(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now, expires_in=timedelta(minutes=30))
    report = await worker.run_once(now + timedelta(hours=1))
    assert report.expired == [ids["preview"]]
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts, row.last_error_code) == ("skipped", 0, "preview_expired")
    assert fake.messages == []
    assert fake.patches == []  # no card was sent, so there is nothing to update


async def test_an_expired_preview_card_is_updated_in_place(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    await seed_preview(store, now, expires_in=timedelta(minutes=30))
    await worker.run_once(now)
    [message] = fake.messages
    await worker.run_once(now + timedelta(hours=1))
    [patch] = fake.patches
    assert patch.message_id == message.message_id
    assert "过期" in patch.content  # the expired card says nothing was changed
    await worker.run_once(now + timedelta(hours=2))
    assert len(fake.patches) == 1


async def _reshape(store: Store, preview_id: str, **cols: object) -> None:
    async with store.uow() as uow:
        preview = await uow.previews.get(preview_id)
        assert preview is not None
        for name, value in cols.items():
            setattr(preview, name, value)
        await uow.commit()


async def test_a_question_with_nothing_to_choose_is_asked_as_text(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    question = {"id": "q1", "type": "ask_user", "risk_level": "low", "choices": [], "texts": {}}
    await _reshape(
        store,
        ids["preview"],
        decision="ask_user",
        candidates=[question],
        chosen_candidate_id="q1",
        ask_user_question="你说的是哪一段没做完？",
    )
    await worker.run_once(now)
    [message] = fake.messages
    assert message.msg_type == "text"
    assert message.uuid == ids["notification"]
    assert message.text.startswith("你说的是哪一段没做完？\n")
    assert "/unfinished" in message.text
    assert (await notification(store, ids["notification"])).status == "sent"


async def test_a_card_that_cannot_be_built_is_sent_as_text(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    await _reshape(store, ids["preview"], candidates=[])  # a propose card with no option cannot be drawn
    await worker.run_once(now)
    [message] = fake.messages
    assert message.msg_type == "text"
    assert "截止前还差 90 分钟，下午有空。" in message.text
    assert "没有改动" in message.text
    assert (await notification(store, ids["notification"])).status == "sent"


async def _claim(store: Store, worker_id: str, now: datetime) -> list[str]:
    async with store.uow() as uow:
        rows = await uow.notifications.claim_due(worker_id, now, CONFIG.lease_seconds, 10)
        claimed = [r.id for r in rows]
        await uow.commit()
    return claimed


async def test_a_card_whose_preview_changed_after_its_batch_was_planned_is_not_sent(
    store: Store, feishu: FeishuClient, fake: FakeFeishu, now: datetime
) -> None:
    """A batch is planned at once; a card waits for its turn to go. If its preview was ignored or expired
    meanwhile, the card is planned again as it is now and skipped, not sent."""
    kept, ignored, expiring = [
        await seed_preview(store, now, open_id=f"ou_changed{i}", expires_in=timedelta(minutes=m))
        for i, m in enumerate((60, 60, 5))
    ]
    delivery = Delivery(store, FeishuSender(feishu), CONFIG, "w0")
    claimed = await _claim(store, "w0", now)
    plans = await delivery._prepare_batch(claimed, now)
    assert {p.action for p in plans.values() if not isinstance(p, Exception)} == {"send"}
    async with store.uow() as uow:
        await uow.session.execute(
            update(Preview).where(Preview.id == ignored["preview"]).values(status="ignored")
        )
        await uow.commit()
    later = now + timedelta(minutes=10)  # past the third preview's expiry, before the others'
    outcomes = {row_id: await delivery._handle(row_id, plans[row_id], lambda: later) for row_id in claimed}
    assert outcomes == {
        kept["notification"]: "sent",
        ignored["notification"]: "skipped",
        expiring["notification"]: "skipped",
    }
    assert [m.receive_id for m in fake.messages] == [kept["open_id"]]
    assert (await notification(store, ignored["notification"])).last_error_code == "preview_ignored"
    assert (await notification(store, expiring["notification"])).last_error_code == "preview_expired"


async def test_a_batch_is_planned_in_one_read_whatever_its_size(
    store: Store, feishu: FeishuClient, now: datetime
) -> None:
    from tests.statements import count_statements

    for i in range(6):
        await seed_preview(store, now, open_id=f"ou_plan{i}")
    delivery = Delivery(store, FeishuSender(feishu), CONFIG, "w0")
    claimed = await _claim(store, "w0", now)
    with count_statements(store) as log:
        plans = await delivery._prepare_batch(claimed, now)
    assert len(plans) == 6
    assert all(not isinstance(p, Exception) and p.action == "send" for p in plans.values())
    assert log.count == 8, str(log)  # rows, users, 5 for the views, the cards today
