"""The worker's side of Feishu Tasks (scheduler.services.tasksync): the `task_complete` effect's handler (a
Feishu failure becomes the DeliveryError the delivery loop retries, or marks dead when final)."""

from __future__ import annotations

from datetime import datetime

from scheduler.services.tasklists import TasklistSync
from scheduler.services.tasksync import TaskApiError, TaskSync
from scheduler.worker.effects import EffectCall
from scheduler.worker.sender import DeliveryError

# The user's own way failed for good in a way the app's token may get past: no connection (or a broken
# one), or Feishu refusing the user the edit (a list's task they are assigned to but did not create).
APP_MAY_COMPLETE = frozenset({"not_connected", "connection_broken", "1470403"})


class TaskCompleteEffect:
    """EffectHandler: complete a synced task's Feishu task while ours is done, as the user (their
    connection) or, for the tasks of the shared lists, as the app when the user cannot."""

    def __init__(self, sync: TaskSync | None, lists: TasklistSync | None = None) -> None:
        self.sync = sync
        self.lists = lists

    async def run(self, call: EffectCall, now: datetime) -> str:
        if self.sync is not None:
            try:
                return await self.sync.complete(call.user_id, call.args, now)
            except TaskApiError as exc:
                if self.lists is None or exc.retryable or exc.code not in APP_MAY_COMPLETE:
                    raise DeliveryError(exc.code, exc.message, retryable=exc.retryable) from exc
        if self.lists is None:
            return ""  # neither way is configured: kept here only
        try:
            return await self.lists.complete(call.user_id, call.args, now)
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
