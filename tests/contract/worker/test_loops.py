"""Worker loops: every loop runs at start-up, poison rows are dead without blocking others, a failure to
record is retried, leases are recovered and released, metrics report rows by status."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from app.cli_serve import serve_command
from app.settings import builtin_settings
from bot.feishu.client import FeishuClient
from bot.sender import FeishuSender
from llm.api import FallbackChooser
from scheduler.services.pipeline import Pipeline
from scheduler.worker import metrics
from scheduler.worker.worker import Worker
from store import Store
from store.enums import NotificationKind
from store.models import Notification
from tests.contract import factories as f
from tests.contract.worker.conftest import (
    CONFIG,
    candidate,
    notification,
    outbox_row,
    seed_due_job,
    seed_preview,
)
from tests.fakes.fake_feishu import FakeFeishu


async def _wait_for(predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_every_loop_runs_at_start_up_not_only_after_its_interval(
    store: Store, feishu: FeishuClient, fake: FakeFeishu
) -> None:
    now = datetime.now(UTC)
    job = await seed_due_job(store, now)
    relayed = await seed_preview(store, now, with_outbox=True)
    pending = await seed_preview(store, now)
    expired = await seed_preview(store, now - timedelta(hours=2), notification=False)
    hour = 3600.0
    config = builtin_settings(
        due_scan_seconds=hour,
        outbox_relay_seconds=hour,
        delivery_seconds=hour,
        expiry_scan_seconds=hour,
        promotion_seconds=hour,
        lease_recovery_seconds=hour,
        lease_seconds=30,
        feishu_timeout_seconds=0.5,
        delivery_timeout_seconds=5,
    ).worker_config()
    worker = Worker(config, store, Pipeline(store, FallbackChooser()), FeishuSender(feishu))

    async def started_work_done() -> bool:
        async with store.uow(readonly=True) as uow:
            j = await uow.jobs.get(job["job"])
            p = await uow.previews.get(expired["preview"])
            relay_done = await uow.notifications.for_preview(relayed["preview"]) != []
            n = await uow.notifications.get(pending["notification"])
            return bool(
                j
                and j.status == "triggered"
                and p
                and p.status == "expired"
                and relay_done
                and n
                and n.status == "sent"
            )

    await worker.start()
    try:
        await _wait_for(started_work_done)
    finally:
        await worker.stop()
    assert pending["open_id"] in {m.receive_id for m in fake.messages}


async def test_poison_notification_is_dead_and_does_not_block_the_rows_behind_it(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        await uow.flush()
        poison, _ = await uow.notifications.insert_if_absent(
            "poison", user_id=user.id, kind=NotificationKind.CARD, payload={"nonsense": 1}, now=now
        )
        ghost, _ = await uow.notifications.insert_if_absent(
            "ghost", user_id=user.id, kind=NotificationKind.CARD, payload={"preview_id": "nope"}, now=now
        )
        await uow.commit()
    good = await seed_preview(store, now + timedelta(seconds=1))
    await worker.run_once(now + timedelta(seconds=1))
    for row_id in (poison.id, ghost.id):
        row = await notification(store, row_id)
        assert (row.status, row.last_error_code, row.claimed_by) == ("dead", "poison", None)
        assert row.last_error
    assert (await notification(store, good["notification"])).status == "sent"
    assert len(fake.messages) == 1


async def test_poison_outbox_row_is_dead_and_does_not_block_the_rows_behind_it(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    async with store.uow() as uow:
        unknown = uow.outbox.put("no.such.topic", {"x": 1}, now - timedelta(seconds=2))
        broken = uow.outbox.put("preview.ready", {"preview_id": 42}, now - timedelta(seconds=1))
        await uow.commit()
    good = await seed_preview(store, now, with_outbox=True)
    await worker.run_once(now)
    for row_id in (unknown.id, broken.id):
        row = await outbox_row(store, row_id)
        assert (row.status, row.claimed_by) == ("dead", None)
        assert row.last_error
        assert "PoisonError" in row.last_error
    assert [m.receive_id for m in fake.messages] == [good["open_id"]]


async def test_relay_sends_one_card_per_user_type_target_and_half_hour(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        task = uow.tasks.add(f.task(now, user.id))
        previews = []
        for minutes in (0, 10, 31):  # two in the 09:00 bucket, one in 09:30
            at = now + timedelta(minutes=minutes)
            trigger = uow.triggers.add(f.trigger(at, user.id, task_id=task.id, status="preview_generated"))
            preview = uow.previews.add(
                f.preview(
                    at,
                    user.id,
                    trigger.id,
                    task_id=task.id,
                    decision="propose",
                    candidates=[candidate()],
                    chosen_candidate_id="c1",
                    expires_at=at + timedelta(hours=1),
                )
            )
            uow.outbox.put("preview.ready", {"preview_id": preview.id}, at)
            previews.append(preview.id)
        await uow.commit()
    await worker.run_once(now + timedelta(minutes=31))
    async with store.uow(readonly=True) as uow:
        cards = [len(await uow.notifications.for_preview(p)) for p in previews]
    assert cards == [1, 0, 1]
    assert len(fake.messages) == 2


async def test_failure_to_record_dead_is_logged_and_retried(
    sqlite_url: str, feishu: FeishuClient, fake: FakeFeishu, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(sqlite_url)
    try:
        worker = Worker(CONFIG, store, Pipeline(store, FallbackChooser()), FeishuSender(feishu))
        async with store.uow() as uow:
            user = uow.users.add(f.user(now))
            await uow.flush()
            poison, _ = await uow.notifications.insert_if_absent(
                "poison", user_id=user.id, kind=NotificationKind.CARD, payload={}, now=now
            )
            await uow.commit()
        # A real database failure on exactly that write: the disk refuses to mark anything dead.
        async with store.engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "CREATE TRIGGER refuse_dead BEFORE UPDATE ON notifications WHEN NEW.status = 'dead' "
                    "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
                )
            )
        with caplog.at_level(logging.ERROR, logger="scheduler.worker.delivery"):
            await worker.run_once(now)
        assert any("could not record dead" in r.getMessage() for r in caplog.records)
        row = await notification(store, poison.id)
        assert (row.status, row.claimed_by) == ("pending", worker.worker_id)  # still leased, not lost
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER refuse_dead"))
        await worker.run_once(now + timedelta(seconds=CONFIG.lease_seconds - 1))
        assert (await notification(store, poison.id)).status == "pending"  # the lease still holds it
        await worker.run_once(now + timedelta(seconds=CONFIG.lease_seconds))
        assert (await notification(store, poison.id)).status == "dead"
    finally:
        await store.dispose()


async def test_a_send_whose_worker_died_is_recovered_after_its_lease(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    ids = await seed_preview(store, now)
    # What a worker killed mid-send leaves behind: `sending`, one attempt counted, a lease that will lapse.
    async with store.uow() as uow:
        await uow.session.execute(
            sa.update(Notification)
            .where(Notification.id == ids["notification"])
            .values(
                status="sending",
                attempts=1,
                claimed_by="dead-worker",
                claimed_until=now + timedelta(seconds=30),
            )
        )
        await uow.commit()
    await worker.run_once(now + timedelta(seconds=29))
    assert fake.messages == []
    await worker.run_once(now + timedelta(seconds=30))
    row = await notification(store, ids["notification"])
    assert (row.status, row.attempts) == ("sent", 2)
    assert [m.uuid for m in fake.messages] == [ids["notification"]]


async def test_stop_releases_the_leases_it_holds(store: Store, worker: Worker, now: datetime) -> None:
    ids = await seed_preview(store, now)
    async with store.uow() as uow:
        await uow.notifications.claim_due(worker.worker_id, now, 30, 10)
        await uow.commit()
    await worker.stop()
    row = await notification(store, ids["notification"])
    assert (row.status, row.claimed_by, row.claimed_until) == ("pending", None, None)


async def test_metrics_count_rows_by_status(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    await seed_preview(store, now)
    await seed_due_job(store, now + timedelta(hours=1))  # its job falls due at now + 59 min
    await worker.run_once(now)
    counts = await metrics.refresh_status_counts(store, now + timedelta(minutes=5))
    assert counts["notifications"] == {"sent": 1}
    assert counts["jobs"] == {"pending": 1}
    assert metrics.STATUS_COUNTS.scan_lag == 0.0
    # Nobody scanned for an hour: the waiting job's lag shows it.
    await metrics.refresh_status_counts(store, now + timedelta(minutes=69))
    assert metrics.STATUS_COUNTS.scan_lag == 600.0
    text, content_type = metrics.render()
    assert content_type.startswith("text/plain")
    body = text.decode()
    assert 'smartflow_notifications{status="sent"} 1.0' in body
    assert "smartflow_due_scan_lag_seconds" in body
    assert "smartflow_send_latency_seconds_bucket" in body


def test_serve_refuses_timeouts_that_do_not_nest(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SMARTFLOW_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setenv("SMARTFLOW_LEASE_SECONDS", "15")
    monkeypatch.setenv("SMARTFLOW_DELIVERY_TIMEOUT_SECONDS", "20")
    result = CliRunner().invoke(serve_command, ["--mode", "worker"])
    assert result.exit_code == 2
    assert "SMARTFLOW_LEASE_SECONDS" in result.output
    assert "SMARTFLOW_DELIVERY_TIMEOUT_SECONDS" in result.output


async def test_console_sender_prints_the_card_for_the_demo(sqlite_url: str, now: datetime) -> None:
    import io

    from bot.sender import ConsoleSender

    store = Store(sqlite_url)
    out = io.StringIO()
    try:
        worker = Worker(CONFIG, store, Pipeline(store, FallbackChooser()), ConsoleSender(out))
        ids = await seed_preview(store, now, expires_in=timedelta(minutes=30))
        await worker.run_once(now)
        assert (await notification(store, ids["notification"])).message_id == f"console-{ids['notification']}"
        await worker.run_once(now + timedelta(hours=1))  # expired: the printed card is "updated"
    finally:
        await store.dispose()
    text = out.getvalue()
    assert f"card to {ids['open_id']}" in text
    assert "下午补上" in text  # the option label
    assert "updated" in text


async def test_a_feedback_trigger_whose_process_died_before_running_it_is_run_by_the_worker(
    store: Store, worker: Worker, fake: FakeFeishu, now: datetime
) -> None:
    from scheduler.services.triggers import create_trigger
    from store.enums import TriggerType
    from store.models import Preview, Trigger

    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        task = uow.tasks.add(f.task(now, user.id, key="report", quadrant=1))
        await uow.flush()
        uow.blocks.add(f.block(now, user.id, task.id, now - timedelta(minutes=60), 45))
        # the bot committed the trigger, then its process died before the pipeline ran
        created = await create_trigger(
            uow, user=user, type=TriggerType.USER_FEEDBACK, now=now, source_message_id="om_lost"
        )
        trigger_id = created.trigger.id
        await uow.commit()

    await worker.run_once(now + timedelta(seconds=30))  # too early: the bot may still be running it
    async with store.uow(readonly=True) as uow:
        assert (await uow.triggers.get(trigger_id)).status == "pending"  # type: ignore[union-attr]

    await worker.run_once(now + timedelta(minutes=3))
    async with store.uow(readonly=True) as uow:
        trigger = await uow.session.get(Trigger, trigger_id)
        status = trigger.status if trigger else None
        previews = (await uow.session.scalars(sa.select(Preview))).all()
    assert status == "preview_generated"
    assert len(previews) == 1
