"""Feishu Tasks v2 with a user access token, behind the TasksApi port (scheduler.services.tasksync):
`GET /open-apis/task/v2/tasks?type=my_tasks` (paged) and `PATCH /open-apis/task/v2/tasks/{guid}` for
completed_at. One pooled httpx client with a timeout; a timeout, a network error, HTTP 5xx or 429 and
Feishu's frequency limits are retryable, the rest final. Tokens never reach a log line."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.feishu.client import FeishuClient
from bot.feishu.errors import RATE_LIMIT_CODES, FeishuError
from bot.feishu.ratelimit import Limiter
from bot.feishu.userapi import CallFailed, UserApi
from scheduler.services.tasklists import ListedTask, TasklistPage
from scheduler.services.tasksync import RemoteTask, TaskApiError, TaskPage

log = logging.getLogger(__name__)

TASKS_PATH = "/open-apis/task/v2/tasks"
SUBSCRIPTION_PATH = "/open-apis/task/v2/task_v2/task_subscription"
# Feishu's common limit for an Open API method, for the whole app: 1000 calls a minute and 50 a second
# (the sync of a thousand connected users would otherwise send them all within half a minute).
TASKS_PER_MINUTE = 1000
TASKS_PER_SECOND = 50


class FeishuTasksClient:
    """Calls wait for a slot under `limiters` (per minute, per second; this process's own count unless
    they are shared through the database: app.wiring passes those on MariaDB)."""

    def __init__(
        self,
        domain: str,
        timeout_seconds: float = 10.0,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiters: tuple[Limiter, Limiter] | None = None,
    ) -> None:
        self._api = UserApi(
            domain,
            timeout_seconds,
            per_minute=TASKS_PER_MINUTE,
            per_second=TASKS_PER_SECOND,
            transport=transport,
            limiters=limiters,
        )

    async def aclose(self) -> None:
        await self._api.aclose()

    async def list_tasks(self, access_token: str, *, page_token: str | None, page_size: int) -> TaskPage:
        params: dict[str, str | int] = {"type": "my_tasks", "page_size": page_size, "user_id_type": "open_id"}
        if page_token:
            params["page_token"] = page_token
        data = await self._call("task.v2.tasks.list", "GET", TASKS_PATH, access_token, params=params)
        body = data.get("data")
        if not isinstance(body, dict):
            raise TaskApiError("bad_response", "list without data", retryable=False)
        raw = body.get("items") or []
        if not isinstance(raw, list):
            raise TaskApiError("bad_response", "items is not a list", retryable=False)
        items = tuple(task for task in (_task(x) for x in raw) if task is not None)
        token = body.get("page_token")
        more = bool(body.get("has_more")) and isinstance(token, str) and bool(token)
        return TaskPage(items, token if more and isinstance(token, str) else None)

    async def subscribe(self, access_token: str) -> None:
        """`POST /open-apis/task/v2/task_v2/task_subscription`: Feishu then pushes
        task.task.update_user_access_v2 for the tasks this user can see."""
        await self._call(
            "task.v2.task_subscription",
            "POST",
            SUBSCRIPTION_PATH,
            access_token,
            params={"user_id_type": "open_id"},
        )

    async def complete(self, access_token: str, guid: str, completed_at: datetime) -> None:
        body = _completion(completed_at)
        await self._call("task.v2.tasks.patch", "PATCH", f"{TASKS_PATH}/{guid}", access_token, json=body)

    async def _call(
        self,
        name: str,
        method: str,
        path: str,
        access_token: str,
        *,
        params: dict[str, str | int] | None = None,
        json: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        try:
            answer = await self._api.call(name, method, path, access_token, params=params, json=json)
        except CallFailed as exc:
            raise TaskApiError(exc.kind, exc.detail, retryable=True) from exc
        status, code, msg = answer.status, answer.code, answer.msg
        if answer.ok and status == 200:
            assert answer.body is not None
            return answer.body
        retryable = status >= 500 or status == 429 or code in RATE_LIMIT_CODES
        raise TaskApiError(str(code) if code is not None else f"http_{status}", msg, retryable=retryable)


class FeishuTasklistReader:
    """TasklistApi: a task list's tasks with the app's tenant token (FeishuClient), each with its assignees'
    open_ids (members with role "assignee"); a Feishu failure is a TaskApiError, retryable as classified."""

    def __init__(self, feishu: FeishuClient) -> None:
        self.feishu = feishu

    async def list_tasklist(
        self, tasklist_guid: str, *, page_token: str | None, page_size: int
    ) -> TasklistPage:
        try:
            body = await self.feishu.tasklist_tasks(tasklist_guid, page_token=page_token, page_size=page_size)
        except FeishuError as exc:
            raise TaskApiError(str(exc.code), str(exc), retryable=exc.retryable) from exc
        raw = body.get("items") or []
        if not isinstance(raw, list):
            raise TaskApiError("bad_response", "items is not a list", retryable=False)
        items: list[ListedTask] = []
        for entry in raw:
            task = _task(entry)
            if task is not None:
                items.append(ListedTask(task, _assignees(entry)))
        token = body.get("page_token")
        more = bool(body.get("has_more")) and isinstance(token, str) and bool(token)
        return TasklistPage(tuple(items), token if more and isinstance(token, str) else None)

    async def complete(self, guid: str, completed_at: datetime) -> None:
        """Complete a task with the app's token (the app may edit the tasks of a list it is a member of)."""
        try:
            await self.feishu.patch_task(guid, _completion(completed_at))
        except FeishuError as exc:
            raise TaskApiError(str(exc.code), str(exc), retryable=exc.retryable) from exc


def _completion(completed_at: datetime) -> dict[str, Any]:
    """The PATCH body that completes a task at `completed_at`."""
    return {
        "task": {"completed_at": str(int(completed_at.timestamp() * 1000))},
        "update_fields": ["completed_at"],
    }


def _assignees(raw: dict[str, Any]) -> tuple[str, ...]:
    members = raw.get("members")
    if not isinstance(members, list):
        return ()
    found = (
        m.get("id")
        for m in members
        if isinstance(m, dict) and m.get("role") == "assignee" and m.get("type", "user") == "user"
    )
    return tuple(dict.fromkeys(i for i in found if isinstance(i, str) and i))


def _task(raw: Any) -> RemoteTask | None:
    """One item of the list; None for one without a guid (skipped)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("guid"), str) or not raw["guid"]:
        return None
    due = raw.get("due")
    due_at = _instant(due.get("timestamp")) if isinstance(due, dict) else None
    return RemoteTask(
        guid=raw["guid"],
        summary=str(raw.get("summary") or ""),
        due=due_at,
        all_day=bool(due.get("is_all_day")) if isinstance(due, dict) else False,
        completed_at=_instant(raw.get("completed_at")),
    )


def _instant(ms: Any) -> datetime | None:
    """A Feishu millisecond timestamp (a string; "0" or empty: none) as a UTC instant in whole seconds."""
    try:
        value = int(str(ms))
    except ValueError:
        return None
    if value <= 0:
        return None
    return datetime.fromtimestamp(value // 1000, tz=UTC)
