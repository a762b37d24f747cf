"""The fake Feishu's Tasks v2: each user's tasks by guid, read and completed with that user's access token.

With a user access token (`Authorization: Bearer u-...`, one the fake OAuth issued and that is still valid,
else 99991668), as Feishu's task v2 documents it:
- `GET /open-apis/task/v2/tasks?type=my_tasks&page_size=N&page_token=T[&completed=true|false]` -> `data.items`
  (the user's tasks in creation order: `guid`, `summary`, `due: {timestamp: "UNIX_MS", is_all_day}` when it
  has one, `completed_at` ("0" while open, else "UNIX_MS"), `created_at`, `updated_at`), `data.has_more` and
  `data.page_token` (the next page's token, "" on the last page). page_size is 1..100 (default 50); another
  type, a bad size or an unknown page token gets 1470400 (HTTP 400).
- `PATCH /open-apis/task/v2/tasks/{guid}` with `{task: {...}, update_fields: [...]}`: the listed fields among
  `summary`, `due`, `completed_at` replace the task's -> `data.task`. A task that is not there gets 1470404,
  one the user neither created nor is assigned to 1470403, an empty or unknown update_fields 1470400.
With the app's tenant token (one the fake issued, else 99991663), a task list's tasks:
- the same PATCH, for a task of a list the app is a member of (else 1470403); its TaskPatch is by "app".
- `GET /open-apis/task/v2/tasklists/{tasklist_guid}/tasks?page_size=N&page_token=T[&completed=..]` -> the same
  page shape, each item with `members` (`{id: open_id, type: "user", role: "assignee"}` per assignee). A list
  nobody added a task to (`add(..., tasklist=...)` or `add_tasklist`) gets 1470404.
Tests add, complete and edit tasks as the user would in Feishu (`add`, `complete`, `edit`), and read what the
bot did (`task`, `patches`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from tests.fakes.fake_feishu import FakeFeishu

TASKS_PATH = "/open-apis/task/v2/tasks"
TASK_PATH = TASKS_PATH + "/{guid}"
TASKLIST_TASKS_PATH = "/open-apis/task/v2/tasklists/{tasklist_guid}/tasks"
SUBSCRIPTION_PATH = "/open-apis/task/v2/task_v2/task_subscription"
BAD_REQUEST = 1470400
NO_PERMISSION = 1470403
APP = "app"  # who a PATCH with the app's tenant token was made by (TaskPatch.open_id)
NOT_FOUND = 1470404
INVALID_USER_TOKEN = 99991668
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
PATCHABLE = frozenset({"summary", "due", "completed_at"})


def _ms(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


@dataclass
class FakeTask:
    guid: str
    open_id: str
    summary: str
    due_ms: str | None = None
    is_all_day: bool = False
    completed_at: str = "0"
    created_at: str = field(default_factory=lambda: str(int(time.time() * 1000)))
    updated_at: str = field(default_factory=lambda: str(int(time.time() * 1000)))
    tasklist: str | None = None
    assignees: tuple[str, ...] = ()

    @property
    def completed(self) -> bool:
        return self.completed_at != "0"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "guid": self.guid,
            "summary": self.summary,
            "completed_at": self.completed_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "url": f"https://applink.feishu.cn/client/todo/detail?guid={self.guid}",
        }
        if self.due_ms is not None:
            out["due"] = {"timestamp": self.due_ms, "is_all_day": self.is_all_day}
        if self.assignees:
            out["members"] = [{"id": a, "type": "user", "role": "assignee"} for a in self.assignees]
        return out


@dataclass(frozen=True)
class TaskPatch:
    """One PATCH that reached a task (faults excluded), as it arrived."""

    guid: str
    open_id: str
    body: dict[str, Any]


class FakeTasks:
    """Every user's Feishu tasks (thread-safe: the server runs on its own thread)."""

    def __init__(self, fake: FakeFeishu) -> None:
        self._fake = fake
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._tasks: dict[str, FakeTask] = {}
            self._patches: list[TaskPatch] = []
            self._lists: list[tuple[str, str]] = []  # (open_id, page_token) of every list request answered
            self._tasklists: set[str] = set()
            self._tasklist_reads: list[tuple[str, str]] = []  # (tasklist guid, page_token) answered
            self._subscribed: list[str] = []  # open_id of every task subscription made

    # ---- test-facing API -------------------------------------------------------------------------------
    def add(
        self,
        open_id: str,
        summary: str,
        *,
        due: datetime | None = None,
        all_day: bool = False,
        completed_at: datetime | None = None,
        tasklist: str | None = None,
        assignees: tuple[str, ...] = (),
    ) -> str:
        """A task `open_id` created in Feishu (in `tasklist`, assigned to `assignees`); returns its guid."""
        guid = str(uuid.UUID(int=next(self._ids)))
        task = FakeTask(guid, open_id, summary, _ms(due) if due else None, all_day)
        task.tasklist, task.assignees = tasklist, tuple(assignees)
        if completed_at is not None:
            task.completed_at = _ms(completed_at)
        with self._lock:
            self._tasks[guid] = task
            if tasklist is not None:
                self._tasklists.add(tasklist)
        return guid

    def add_tasklist(self, guid: str) -> None:
        """A task list (with no task yet) the bot is a member of."""
        with self._lock:
            self._tasklists.add(guid)

    def remove_tasklist(self, guid: str) -> None:
        """The bot is no longer a member of the task list (its tasks stay; the app may neither read nor edit
        them)."""
        with self._lock:
            self._tasklists.discard(guid)

    def complete(self, guid: str, at: datetime) -> None:
        """The user ticks the task off in Feishu."""
        self._change(guid, completed_at=_ms(at))

    def edit(self, guid: str, *, summary: str | None = None, due: datetime | None = None) -> None:
        """The user edits the task in Feishu."""
        changes: dict[str, Any] = {}
        if summary is not None:
            changes["summary"] = summary
        if due is not None:
            changes["due_ms"] = _ms(due)
        self._change(guid, **changes)

    def task(self, guid: str) -> FakeTask:
        with self._lock:
            return replace(self._tasks[guid])

    def tasks_of(self, open_id: str) -> list[FakeTask]:
        with self._lock:
            return [replace(t) for t in self._tasks.values() if t.open_id == open_id]

    @property
    def patches(self) -> list[TaskPatch]:
        with self._lock:
            return list(self._patches)

    @property
    def lists(self) -> list[tuple[str, str]]:
        """(open_id, page_token) of every list request answered."""
        with self._lock:
            return list(self._lists)

    @property
    def subscribed(self) -> list[str]:
        """The open_id of every task change subscription made (with that user's token), in order."""
        with self._lock:
            return list(self._subscribed)

    @property
    def tasklist_reads(self) -> list[tuple[str, str]]:
        """(tasklist guid, page_token) of every task list request answered."""
        with self._lock:
            return list(self._tasklist_reads)

    def _change(self, guid: str, **changes: Any) -> None:
        with self._lock:
            task = self._tasks[guid]
            for name, value in changes.items():
                setattr(task, name, value)
            task.updated_at = str(int(time.time() * 1000))

    # ---- HTTP -----------------------------------------------------------------------------------------
    def _user(self, request: Request) -> str | Response:
        open_id = self._fake.oauth.user_of(request.headers.get("authorization", ""))
        if open_id is None:
            return _error(400, INVALID_USER_TOKEN, "Invalid access token for authorization.")
        return open_id

    async def list_tasks(self, request: Request) -> Response:
        if (early := await self._fake._prelude("task_list")) is not None:
            return early
        user = self._user(request)
        if isinstance(user, Response):
            return user
        q = request.query_params
        if q.get("type", "my_tasks") != "my_tasks":
            return _error(400, BAD_REQUEST, "type must be my_tasks")
        try:
            size = int(q.get("page_size", DEFAULT_PAGE_SIZE))
            start = int(q["page_token"].removeprefix("pt-")) if q.get("page_token") else 0
        except ValueError:
            return _error(400, BAD_REQUEST, "invalid page_size or page_token")
        if not 1 <= size <= MAX_PAGE_SIZE or start < 0:
            return _error(400, BAD_REQUEST, "invalid page_size or page_token")
        completed = q.get("completed")
        with self._lock:
            mine = [t for t in self._tasks.values() if t.open_id == user]
            if completed in ("true", "false"):
                mine = [t for t in mine if t.completed == (completed == "true")]
            page = [t.as_json() for t in mine[start : start + size]]
            more = start + size < len(mine)
            self._lists.append((user, q.get("page_token", "")))
        data = {"items": page, "has_more": more, "page_token": f"pt-{start + size}" if more else ""}
        return JSONResponse({"code": 0, "msg": "success", "data": data})

    async def subscribe(self, request: Request) -> Response:
        """`POST /open-apis/task/v2/task_v2/task_subscription?user_id_type=open_id` with a user token: Feishu
        then pushes task.task.update_user_access_v2 for the tasks the user can see."""
        if (early := await self._fake._prelude("task_subscribe")) is not None:
            return early
        user = self._user(request)
        if isinstance(user, Response):
            return user
        with self._lock:
            self._subscribed.append(user)
        return JSONResponse({"code": 0, "msg": "success", "data": {}})

    async def list_tasklist_tasks(self, request: Request) -> Response:
        fake = self._fake
        if (early := await fake._prelude("tasklist_tasks")) is not None:
            return early
        if (denied := fake._check_auth(request)) is not None:
            return denied
        guid = request.path_params["tasklist_guid"]
        q = request.query_params
        try:
            size = int(q.get("page_size", DEFAULT_PAGE_SIZE))
            start = int(q["page_token"].removeprefix("pt-")) if q.get("page_token") else 0
        except ValueError:
            return _error(400, BAD_REQUEST, "invalid page_size or page_token")
        if not 1 <= size <= MAX_PAGE_SIZE or start < 0:
            return _error(400, BAD_REQUEST, "invalid page_size or page_token")
        completed = q.get("completed")
        with self._lock:
            if guid not in self._tasklists:
                return _error(400, NOT_FOUND, "tasklist not found")
            listed = [t for t in self._tasks.values() if t.tasklist == guid]
            if completed in ("true", "false"):
                listed = [t for t in listed if t.completed == (completed == "true")]
            page = [t.as_json() for t in listed[start : start + size]]
            more = start + size < len(listed)
            self._tasklist_reads.append((guid, q.get("page_token", "")))
        data = {"items": page, "has_more": more, "page_token": f"pt-{start + size}" if more else ""}
        return JSONResponse({"code": 0, "msg": "success", "data": data})

    async def patch_task(self, request: Request) -> Response:
        if (early := await self._fake._prelude("task_patch")) is not None:
            return early
        as_app = request.headers.get("authorization", "").startswith("Bearer t-")
        if as_app:
            if (denied := self._fake._check_auth(request)) is not None:
                return denied
            user = APP
        else:
            found = self._user(request)
            if isinstance(found, Response):
                return found
            user = found
        try:
            body = json.loads(await request.body())
        except ValueError:
            body = None
        fields = body.get("update_fields") if isinstance(body, dict) else None
        task_in = body.get("task") if isinstance(body, dict) else None
        if not isinstance(fields, list) or not fields or not isinstance(task_in, dict):
            return _error(400, BAD_REQUEST, "task and update_fields are required")
        if any(f not in PATCHABLE for f in fields):
            return _error(400, BAD_REQUEST, f"update_fields must be among {sorted(PATCHABLE)}")
        guid = request.path_params["guid"]
        assert isinstance(body, dict)
        with self._lock:
            task = self._tasks.get(guid)
            if task is None:
                return _error(400, NOT_FOUND, "task not found")
            # The creator and the assignees may edit a task; the app, the tasks of a list it is a member of.
            allowed = (
                task.tasklist is not None and task.tasklist in self._tasklists
                if as_app
                else user == task.open_id or user in task.assignees
            )
            if not allowed:
                return _error(400, NO_PERMISSION, "no permission to edit this task")
            for name in fields:
                value = task_in.get(name)
                if name == "summary" and isinstance(value, str):
                    task.summary = value
                elif name == "completed_at" and isinstance(value, str) and value.isdigit():
                    task.completed_at = value
                elif name == "due":
                    due = value if isinstance(value, dict) else {}
                    task.due_ms = str(due["timestamp"]) if "timestamp" in due else None
                    task.is_all_day = bool(due.get("is_all_day", False))
            task.updated_at = str(int(time.time() * 1000))
            self._patches.append(TaskPatch(guid, user, body))
            answer = task.as_json()
        return JSONResponse({"code": 0, "msg": "success", "data": {"task": answer}})


def _error(status: int, code: int, msg: str) -> JSONResponse:
    return JSONResponse({"code": code, "msg": msg}, status_code=status)
