"""Worker test fixtures: a fake Feishu on loopback, a FeishuSender on it, seeded previews and due jobs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from app.settings import builtin_settings
from bot.feishu.client import FeishuClient
from bot.sender import FeishuSender
from llm.api import FallbackChooser
from scheduler.services.pipeline import Pipeline
from scheduler.worker.worker import Worker
from store import Store
from store.enums import NotificationKind
from store.models import Job, Notification, OutboxMessage, Preview
from tests.contract import factories as f
from tests.fakes.fake_feishu import FakeFeishu, serve_fake_feishu

FEISHU_TIMEOUT = 0.5
# Short but nested: Feishu call < delivery step < lease.
CONFIG = builtin_settings(
    lease_seconds=30.0, feishu_timeout_seconds=FEISHU_TIMEOUT, delivery_timeout_seconds=5.0
).worker_config(delivery_concurrency=4)


@pytest.fixture(scope="session")
def _fake_server() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as served:
        yield served


@pytest.fixture
def fake(_fake_server: tuple[FakeFeishu, str]) -> FakeFeishu:
    server, _ = _fake_server
    server.reset()
    return server


@pytest.fixture
async def feishu(fake: FakeFeishu, _fake_server: tuple[FakeFeishu, str]) -> AsyncIterator[FeishuClient]:
    client = FeishuClient(
        fake.app_id, fake.app_secret, domain=_fake_server[1], timeout_seconds=FEISHU_TIMEOUT
    )
    yield client
    await client.aclose()


@pytest.fixture
def worker(store: Store, feishu: FeishuClient) -> Worker:
    pipeline = Pipeline(store, FallbackChooser())
    return Worker(CONFIG, store, pipeline, FeishuSender(feishu), worker_id="test-worker")


def candidate(cid: str = "c1", *, label: str = "下午补上") -> dict[str, Any]:
    return {
        "id": cid,
        "type": "place_task",
        "risk_level": "low",
        "texts": {
            "label": label,
            "summary": "Add 实验报告 14:00-15:30",
            "before": "14:00-16:00 free",
            "after": "14:00-15:30 实验报告",
        },
    }


async def seed_preview(
    store: Store,
    now: datetime,
    *,
    expires_in: timedelta = timedelta(hours=1),
    user_kw: dict[str, Any] | None = None,
    open_id: str | None = None,
    with_outbox: bool = False,
    notification: bool = True,
) -> dict[str, str]:
    """A user, task, trigger and ready propose preview; optionally its pending card notification or its
    preview.ready outbox row. Returns the ids."""
    async with store.uow() as uow:
        user = uow.users.add(f.user(now, open_id, **(user_kw or {})))
        task = uow.tasks.add(f.task(now, user.id))
        trigger = uow.triggers.add(f.trigger(now, user.id, task_id=task.id, status="preview_generated"))
        preview: Preview = uow.previews.add(
            f.preview(
                now,
                user.id,
                trigger.id,
                task_id=task.id,
                decision="propose",
                candidates=[candidate("c1"), candidate("c2", label="晚上做")],
                chosen_candidate_id="c1",
                explanation="截止前还差 90 分钟，下午有空。",
                notification_summary="实验报告需要安排时间",
                expires_at=now + expires_in,
            )
        )
        ids = {"user": user.id, "open_id": user.open_id, "task": task.id, "preview": preview.id}
        if with_outbox:
            uow.outbox.put("preview.ready", {"preview_id": preview.id}, now)
        elif notification:
            await uow.flush()
            row, _ = await uow.notifications.insert_if_absent(
                f"test:{preview.id}",
                user_id=user.id,
                kind=NotificationKind.CARD,
                payload={"preview_id": preview.id},
                now=now,
                preview_id=preview.id,
            )
            ids["notification"] = row.id
        await uow.commit()
    return ids


async def seed_due_job(store: Store, now: datetime, *, open_id: str | None = None) -> dict[str, str]:
    """An important, not-yet-urgent task whose urgency threshold has just passed, with its pending job."""
    async with store.uow() as uow:
        user = uow.users.add(f.user(now, open_id, day_start="00:00", day_end="24:00"))
        task = uow.tasks.add(
            f.task(
                now,
                user.id,
                quadrant=2,
                estimate_minutes=60,
                urgency_threshold_at=now - timedelta(minutes=1),
                deadline=now + timedelta(hours=20),
            )
        )
        job = uow.jobs.add(
            Job(
                task_id=task.id,
                user_id=user.id,
                trigger_at=now - timedelta(minutes=1),
                status="pending",
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()
    return {"user": user.id, "open_id": user.open_id, "task": task.id, "job": job.id}


async def notification(store: Store, notification_id: str) -> Notification:
    async with store.uow(readonly=True) as uow:
        row = await uow.notifications.get(notification_id)
        assert row is not None
        uow.session.expunge(row)  # keep the loaded values after the unit of work ends
        return row


async def outbox_row(store: Store, row_id: str) -> OutboxMessage:
    async with store.uow(readonly=True) as uow:
        row = await uow.outbox.get(row_id)
        assert row is not None
        uow.session.expunge(row)
        return row
