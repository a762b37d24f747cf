"""Feishu task lists the bot is a member of, read with the app's token alone (no user login).

For teams that share one list (SMARTFLOW_TASK_LISTS): every sync interval the worker reads each configured
list's tasks (`GET /open-apis/task/v2/tasklists/{guid}/tasks`, every page, the tenant token) and gives each
task to every assignee who is one of our users (by open_id), through the same mapping as the per-user sync
(scheduler.services.tasksync.apply_remote: by guid, so a connected user who also sees the task in their own
`my_tasks` gets it once, updated). A task without an assignee we know creates nothing (logged at debug).
Several workers may read the same list in one interval: apply_remote is idempotent per guid, and one that
loses a race on a new task's guid is logged and read again next time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from scheduler.services.tasksync import (
    RemoteTask,
    SyncConfig,
    SyncReport,
    TaskApiError,
    apply_remote,
    done_feishu_task,
)
from store import Store
from store.repositories.tasksync import SyncUser

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ListedTask:
    """One task of a task list: the task as the per-user sync reads it, and its assignees' open_ids."""

    task: RemoteTask
    assignees: tuple[str, ...]


@dataclass(frozen=True)
class TasklistPage:
    items: tuple[ListedTask, ...]
    next_token: str | None  # None: the last page


class TasklistApi(Protocol):
    """Feishu Tasks v2 task lists with the app's tenant token (bot.feishu.tasks.FeishuTasklistReader)."""

    async def list_tasklist(
        self, tasklist_guid: str, *, page_token: str | None, page_size: int
    ) -> TasklistPage: ...

    async def complete(self, guid: str, completed_at: datetime) -> None:
        """Complete a task with the app's token."""
        ...


class TasklistSync:
    def __init__(self, store: Store, api: TasklistApi, lists: Sequence[str], config: SyncConfig) -> None:
        self.store = store
        self.api = api
        self.lists = tuple(lists)
        self.config = config

    @property
    def interval_seconds(self) -> float:
        return self.config.interval_seconds if self.lists else 0.0

    async def run(self, now: datetime) -> SyncReport:
        """One read of every configured list; a list that cannot be read is logged and counted, the
        others are read."""
        report = SyncReport()
        for guid in self.lists:
            try:
                listed = await self._read_all(guid)
            except TaskApiError as exc:
                log.warning("feishu task list %s not read: %s", guid, exc)
                report.failed += 1
                continue
            await self.apply(listed, now, report)
        return report

    async def apply(self, listed: Iterable[ListedTask], now: datetime, report: SyncReport) -> None:
        """Give each task to each of its assignees who is one of our users, one transaction per user."""
        by_assignee: dict[str, list[RemoteTask]] = {}
        for item in listed:
            if not item.assignees:
                log.debug("feishu task %s has no assignee: skipped", item.task.guid)
            for open_id in dict.fromkeys(item.assignees):
                by_assignee.setdefault(open_id, []).append(item.task)
        if not by_assignee:
            return
        async with self.store.uow(readonly=True) as uow:
            known = {
                open_id: SyncUser(u.id, u.open_id, u.locale, u.timezone)
                for open_id, u in (await uow.users.by_open_ids(list(by_assignee))).items()
            }
        for open_id, tasks in by_assignee.items():
            sync_user = known.get(open_id)
            if sync_user is None:
                log.debug("feishu task list: %d task(s) of unknown assignee %s skipped", len(tasks), open_id)
                continue
            report.users += 1
            try:
                async with self.store.uow() as uow:
                    await apply_remote(uow, sync_user, tasks, now, self.config, report)
                    await uow.commit()
            except Exception:
                # e.g. another worker created the same new task at the same moment: read again next time.
                log.exception("feishu task list tasks not applied", extra={"user_id": sync_user.user_id})
                report.failed += 1

    async def complete(self, user_id: str, args: Mapping[str, Any], now: datetime) -> str:
        """The `task_complete` effect with the app's token, for a task of a list the app is a member of
        (its assignee here may have no connection, or may not edit it as themself); returns the guid ("" when
        there was nothing to do). Raises TaskApiError (final when Feishu refuses the app)."""
        done = await done_feishu_task(self.store, user_id, args)
        if done is None:
            return ""
        guid, done_at = done
        await self.api.complete(guid, done_at)
        return guid

    async def _read_all(self, guid: str) -> list[ListedTask]:
        items: list[ListedTask] = []
        page_token: str | None = None
        for _ in range(self.config.max_pages):
            page = await self.api.list_tasklist(guid, page_token=page_token, page_size=self.config.page_size)
            items += page.items
            if page.next_token is None:
                return items
            page_token = page.next_token
        log.warning("feishu task list %s: more than %d pages; the rest waits", guid, self.config.max_pages)
        return items


class SyncSteps:
    """Several task sync steps run as the worker's one task sync (same interval): the per-user sync and
    the task lists'."""

    def __init__(self, *steps: Any) -> None:
        self.steps = tuple(s for s in steps if s is not None and s.interval_seconds > 0)

    @property
    def interval_seconds(self) -> float:
        return min((s.interval_seconds for s in self.steps), default=0.0)

    async def run(self, now: datetime) -> list[Any]:
        return [await step.run(now) for step in self.steps]
