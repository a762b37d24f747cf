"""The worker's side of Feishu Tasks (scheduler.services.tasksync): the `task_complete` effect's handler (a
Feishu failure becomes the DeliveryError the delivery loop retries, or marks dead when final)."""

from __future__ import annotations

from datetime import datetime

from scheduler.services.tasksync import TaskApiError, TaskSync
from scheduler.worker.effects import EffectCall
from scheduler.worker.sender import DeliveryError


class TaskCompleteEffect:
    """EffectHandler: complete a synced task's Feishu task while ours is done."""

    def __init__(self, sync: TaskSync) -> None:
        self.sync = sync

    async def run(self, call: EffectCall, now: datetime) -> str:
        try:
            return await self.sync.complete(call.user_id, call.args, now)
        except TaskApiError as exc:
            raise DeliveryError(exc.code, exc.message, retryable=exc.retryable) from exc


class TaskSubscribeEffect:
    """EffectHandler: subscribe a newly connected user's tasks to Feishu's change events."""

    def __init__(self, sync: TaskSync) -> None:
        self.sync = sync

    async def run(self, call: EffectCall, now: datetime) -> str:
        try:
            return await self.sync.subscribe(call.user_id, now)
        except TaskApiError as exc:
            raise DeliveryError(exc.code, exc.message, retryable=exc.retryable) from exc


class NoTaskCompletion:
    """EffectHandler when no user can connect (task lists read with the app's token only): `/done` on a task
    synced from a list is kept here and not written back to Feishu; the effect is done, not dead."""

    async def run(self, call: EffectCall, now: datetime) -> str:
        return ""
