"""Effects (Feishu calls a committed change asks for) run by the worker's delivery loop: once when they
succeed, retried with backoff when they fail retryably, dead when refused for good or unknown; a change that
rolls back queues nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.feishu.client import FeishuClient
from bot.sender import FeishuSender
from llm.api import FallbackChooser
from scheduler.services import effects
from scheduler.services.pipeline import Pipeline
from scheduler.worker.effects import EffectCall, Effects
from scheduler.worker.sender import DeliveryError
from scheduler.worker.worker import Worker
from store import Store
from tests.contract import factories as f
from tests.contract.worker.conftest import CONFIG, notification


class Recorder:
    """A handler that records its calls and fails the first `fail` of them."""

    def __init__(self, fail: int = 0, *, retryable: bool = True) -> None:
        self.calls: list[EffectCall] = []
        self.fail = fail
        self.retryable = retryable

    async def run(self, call: EffectCall, now: datetime) -> str:
        self.calls.append(call)
        if len(self.calls) <= self.fail:
            raise DeliveryError("502", "calendar down", retryable=self.retryable)
        return f"ev_{call.args['n']}"


def worker_with(store: Store, feishu: FeishuClient, **handlers: Recorder) -> Worker:
    return Worker(
        CONFIG,
        store,
        Pipeline(store, FallbackChooser()),
        FeishuSender(feishu),
        worker_id="test-worker",
        effects=Effects(handlers),
    )


async def _queue(store: Store, now: datetime, name: str, *keys: str, commit: bool = True) -> list[str]:
    async with store.uow() as uow:
        user = await uow.users.get_by_open_id("ou_effects")
        if user is None:
            user = uow.users.add(f.user(now, "ou_effects"))
            await uow.flush()
        ids = [
            await effects.queue(uow, user.id, name, key=key, payload={"n": n}, now=now)
            for n, key in enumerate(keys)
        ]
        if commit:
            await uow.commit()
    return ids


async def test_an_effect_runs_once_and_keeps_its_result(
    store: Store, feishu: FeishuClient, now: datetime
) -> None:
    handler = Recorder()
    worker = worker_with(store, feishu, calendar_event=handler)
    [nid] = await _queue(store, now, "calendar_event", "block-1:create")
    assert await _queue(store, now, "calendar_event", "block-1:create") == [nid]  # the same key: one row

    await worker.run_once(now)
    await worker.run_once(now + timedelta(minutes=5))

    [call] = handler.calls
    assert (call.key, call.args, call.attempts) == ("block-1:create", {"n": 0}, 0)
    row = await notification(store, nid)
    assert (row.status, row.attempts, row.message_id) == ("sent", 1, "ev_0")


async def test_a_failed_effect_is_retried_until_it_lands(
    store: Store, feishu: FeishuClient, now: datetime
) -> None:
    handler = Recorder(fail=2)
    worker = worker_with(store, feishu, calendar_event=handler)
    [nid] = await _queue(store, now, "calendar_event", "block-2:create")

    at = now
    for _ in range(6):
        await worker.run_once(at)
        at += timedelta(minutes=10)

    assert [c.key for c in handler.calls] == ["block-2:create"] * 3  # the same key every time
    row = await notification(store, nid)
    assert (row.status, row.attempts, row.message_id) == ("sent", 3, "ev_0")


async def test_a_final_refusal_and_an_unknown_effect_are_dead_not_retried(
    store: Store, feishu: FeishuClient, now: datetime
) -> None:
    handler = Recorder(fail=5, retryable=False)
    worker = worker_with(store, feishu, task_complete=handler)
    [refused] = await _queue(store, now, "task_complete", "task-1:done")
    [unknown] = await _queue(store, now, "no_such_effect", "x:1")

    await worker.run_once(now)
    await worker.run_once(now + timedelta(hours=1))

    assert len(handler.calls) == 1
    assert (await notification(store, refused)).status == "dead"
    assert (await notification(store, unknown)).status == "dead"


async def test_a_change_that_rolls_back_queues_nothing(
    store: Store, feishu: FeishuClient, now: datetime
) -> None:
    handler = Recorder()
    worker = worker_with(store, feishu, calendar_event=handler)
    await _queue(store, now, "calendar_event", "rolled-back", commit=False)
    await _queue(store, now, "calendar_event", "b:create", "b:move", "b:delete")

    await worker.run_once(now)

    assert sorted(c.key for c in handler.calls) == ["b:create", "b:delete", "b:move"]
