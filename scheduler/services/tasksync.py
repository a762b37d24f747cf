"""Feishu Tasks v2 as a source of a connected user's tasks.

Every sync interval the worker reads each connected user's Feishu tasks (`my_tasks`, every page) with their
own access token and maps each to our task by its guid: a new one becomes an open task (summary -> title,
due -> deadline, the configured default estimate; Feishu holds no estimate), a known one takes Feishu's
title and deadline, and one completed in Feishu is done here (its job canceled, its ready previews expired).

A field the user edited here since the last sync is never overwritten silently: the task keeps the title and
deadline Feishu had at the last sync (feishu_title, feishu_deadline), so a field that differs from those was
edited here and one whose Feishu value differs was edited there. Both: ours is kept, the conflict is
recorded (audit log) and the user is told once in chat (a queued answer, keyed by the Feishu value).

`/done` on a synced task completes it in Feishu too: scheduler.services.tasks queues the `task_complete`
effect, and its handler (scheduler.worker.tasksync) PATCHes completed_at if the task is still done then.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scheduler.services import effects, previews
from scheduler.services.jobs import sync_job
from scheduler.services.usertokens import ConnectionBroken, NotConnected, TokenUnavailable
from store import Store, UnitOfWork
from store.enums import NotificationKind, PreviewStatus, TaskStatus
from store.models import Task, User
from store.repositories.tasksync import SyncUser

log = logging.getLogger(__name__)

TASK_READ_SCOPE = "task:task:read"
TASK_WRITE_SCOPE = "task:task:write"
COMPLETE_EFFECT = "task_complete"
URGENT_WITHIN = timedelta(hours=24)  # as scheduler.services.tasks: urgent a day before the deadline
TITLE_MAX = 255
UNTITLED = "(untitled)"
# New tasks from one sync asked about (estimate, importance) on a form card, soonest deadline first; the
# rest keep the defaults without a card (a first sync of a long list must not flood the chat).
ASK_PER_SYNC = 3
ASK_PREFIX = "answer:tse-"  # + task id: the dedupe key of a task's question


@dataclass(frozen=True)
class RemoteTask:
    """One Feishu task as the sync reads it (instants in UTC, whole seconds)."""

    guid: str
    summary: str
    due: datetime | None
    all_day: bool
    completed_at: datetime | None


@dataclass(frozen=True)
class TaskPage:
    items: tuple[RemoteTask, ...]
    next_token: str | None  # None: the last page


class TaskApiError(Exception):
    """A Feishu Tasks call failed: `code` is Feishu's code or a name (timeout, network, http_502)."""

    def __init__(self, code: str, message: str = "", *, retryable: bool) -> None:
        super().__init__(f"feishu tasks {code}: {message}" if message else f"feishu tasks {code}")
        self.code = code
        self.message = message
        self.retryable = retryable


class TasksApi(Protocol):
    """Feishu Tasks v2 with a user access token (bot.feishu.tasks)."""

    async def list_tasks(self, access_token: str, *, page_token: str | None, page_size: int) -> TaskPage: ...

    async def complete(self, access_token: str, guid: str, completed_at: datetime) -> None: ...

    async def subscribe(self, access_token: str) -> None:
        """Ask Feishu to push task.task.update_user_access_v2 for the tasks this user can see."""
        ...


class AccessTokens(Protocol):
    """scheduler.services.usertokens.UserTokens as the sync uses it."""

    async def access_token(self, user_id: str, now: datetime) -> str: ...


@dataclass(frozen=True)
class SyncConfig:
    interval_seconds: float = 300.0  # 0: the worker does not sync
    default_estimate_minutes: int = 30  # Feishu tasks hold no estimate
    page_size: int = 100  # Feishu's maximum
    max_pages: int = 50  # per user and sync (5,000 tasks)
    user_batch: int = 100  # connected users read per statement


@dataclass
class SyncReport:
    users: int = 0
    created: int = 0
    updated: int = 0
    completed: int = 0
    conflicts: int = 0
    failed: int = 0  # users whose tasks could not be read this time
    previews_expired: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Conflict:
    field: str  # "title" or "deadline"
    ours: str
    theirs: str


class TaskSync:
    def __init__(self, store: Store, api: TasksApi, tokens: AccessTokens, config: SyncConfig) -> None:
        self.store = store
        self.api = api
        self.tokens = tokens
        self.config = config

    @property
    def interval_seconds(self) -> float:
        return self.config.interval_seconds

    async def run(self, now: datetime) -> SyncReport:
        """One sync of every connected user whose grant holds the task scope and who is due (not synced by
        any worker within the interval), a batch of users at a time. One user's failure (token, Feishu) is
        logged and counted; the others are synced."""
        report = SyncReport()
        after: str | None = None
        # A user is due once their last sync is an interval old (a little less: a worker's ticks drift).
        before = now - timedelta(seconds=self.config.interval_seconds * 0.9)
        while True:
            async with self.store.uow(readonly=True) as uow:
                users = await uow.tasksync.connected_users(
                    TASK_READ_SCOPE, after, self.config.user_batch, before
                )
            for user in users:
                async with self.store.uow() as uow:  # another worker may have taken them meanwhile
                    claimed = await uow.tasksync.claim_sync(user.user_id, now, before)
                    await uow.commit()
                if claimed:
                    await self.sync_user(user, now, report)
            if len(users) < self.config.user_batch:
                return report
            after = users[-1].user_id

    async def sync_user(self, user: SyncUser, now: datetime, report: SyncReport) -> None:
        report.users += 1
        try:
            token = await self.tokens.access_token(user.user_id, now)
            remote = await self._read_all(token)
        except (NotConnected, ConnectionBroken):
            report.failed += 1
            return
        except (TokenUnavailable, TaskApiError) as exc:
            log.warning("feishu tasks not read: %s", exc, extra={"user_id": user.user_id})
            report.failed += 1
            return
        try:
            async with self.store.uow() as uow:
                await apply_remote(uow, user, remote, now, self.config, report)
                await uow.commit()
        except Exception:
            # e.g. another worker synced the same new task at the same moment (the guid is unique per user):
            # this user's tasks are read again next time; the other users are synced now.
            log.exception("feishu tasks not applied", extra={"user_id": user.user_id})
            report.failed += 1

    async def subscribe(self, user_id: str, now: datetime) -> str:
        """The `task.subscribe` effect: subscribe the user's visible tasks to change events, with their
        token, if they are still connected with the task scope (else nothing). Raises TaskApiError."""
        async with self.store.uow(readonly=True) as uow:
            if await uow.tasksync.connected_user(TASK_READ_SCOPE, user_id) is None:
                return "not connected with the task scope"
        try:
            token = await self.tokens.access_token(user_id, now)
        except NotConnected:
            return "not connected"
        except ConnectionBroken as exc:
            raise TaskApiError("connection_broken", retryable=False) from exc
        except TokenUnavailable as exc:
            raise TaskApiError(exc.code, "user token unavailable", retryable=exc.retryable) from exc
        await self.api.subscribe(token)
        return "subscribed"

    async def task_changed(self, guid: str, now: datetime) -> SyncReport:
        """Feishu says the task `guid` changed (task.task.update_user_access_v2): sync, now, the connected
        users who have it (their whole list, as the periodic sync reads it: the event names the task, not
        what changed). A task new to us is not known by its guid yet: the periodic sync brings it in."""
        report = SyncReport()
        if not guid:
            return report
        async with self.store.uow(readonly=True) as uow:
            users = await uow.tasksync.users_of_guid(TASK_READ_SCOPE, guid)
        for user in users:
            await self.sync_user(user, now, report)
        return report

    async def complete(self, user_id: str, args: Mapping[str, Any], now: datetime) -> str:
        """The `task_complete` effect: PATCH completed_at of the task's Feishu task, if our task is still
        done (an undone task is left open there); returns the guid ("" when there was nothing to do).
        Raises TaskApiError: retryable for a passing failure, final for no connection or a refusal."""
        done = await done_feishu_task(self.store, user_id, args)
        if done is None:
            return ""
        guid, done_at = done
        try:
            token = await self.tokens.access_token(user_id, now)
        except NotConnected as exc:
            raise TaskApiError("not_connected", retryable=False) from exc
        except ConnectionBroken as exc:
            raise TaskApiError("connection_broken", retryable=False) from exc
        except TokenUnavailable as exc:
            raise TaskApiError(exc.code, "user token unavailable", retryable=exc.retryable) from exc
        await self.api.complete(token, guid, done_at)
        return guid

    async def _read_all(self, token: str) -> list[RemoteTask]:
        items: list[RemoteTask] = []
        page_token: str | None = None
        for _ in range(self.config.max_pages):
            page = await self.api.list_tasks(token, page_token=page_token, page_size=self.config.page_size)
            items += page.items
            if page.next_token is None:
                return items
            page_token = page.next_token
        log.warning(
            "feishu tasks: more than %d pages; the rest waits for the next sync", self.config.max_pages
        )
        return items


async def done_feishu_task(
    store: Store, user_id: str, args: Mapping[str, Any]
) -> tuple[str, datetime] | None:
    """The Feishu guid of the `task_complete` effect's task and when it was done, or None when there is
    nothing to complete (not the user's, no longer done, or not from Feishu)."""
    task_id = args.get("task_id")
    if not isinstance(task_id, str):
        raise TaskApiError("bad_effect", "task_complete without a task_id", retryable=False)
    async with store.uow(readonly=True) as uow:
        task = await uow.tasksync.task(task_id)
        if task is None or task.user_id != user_id or task.status != TaskStatus.DONE:
            return None
        guid, done_at = task.feishu_task_guid, task.updated_at
    return None if guid is None else (guid, done_at)


async def apply_remote(  # noqa: PLR0917 - one sync's inputs
    uow: UnitOfWork,
    user: SyncUser,
    remote: Sequence[RemoteTask],
    now: datetime,
    config: SyncConfig,
    report: SyncReport,
) -> None:
    """Bring the user's synced tasks in line with what Feishu holds (see the module doc), in `uow`."""
    seen: dict[str, RemoteTask] = {}
    for item in remote:
        seen.setdefault(item.guid, item)  # a task listed twice (paging while it changed) counts once
    ours = await uow.tasksync.by_guids(user.user_id, seen)
    owner: User | None = None
    done_ids: list[str] = []
    created: list[Task] = []
    for guid, item in seen.items():
        task = ours.get(guid)
        if task is None:
            if item.completed_at is None:
                new = _create(uow, user, item, due_of(item, user.timezone), now, config)
                await sync_job(uow, new, now)
                created.append(new)
                report.created += 1
            continue
        task.feishu_synced_at = now
        conflicts, changed = _merge(task, item, due_of(item, user.timezone), user.timezone)
        if item.completed_at is not None and task.status == TaskStatus.OPEN:
            task.status = TaskStatus.DONE
            changed = True
            done_ids.append(task.id)
            report.completed += 1
        if changed:
            task.version += 1
            task.updated_at = now
            report.updated += 1
            await sync_job(uow, task, now)
            if owner is None:
                owner = await uow.users.get(user.user_id)
            if owner is not None:  # plans made on the old task are refused on Apply
                owner.schedule_version += 1
                owner.updated_at = now
        for conflict in conflicts:
            await _report_conflict(uow, user, task, conflict, now)
            report.conflicts += 1
    for preview in await uow.tasksync.ready_previews(done_ids):
        previews.move(uow, preview, PreviewStatus.EXPIRED, now)
        report.previews_expired.append(preview.id)
    await _ask_estimates(uow, user, created, now)


async def _ask_estimates(uow: UnitOfWork, user: SyncUser, created: Sequence[Task], now: datetime) -> None:
    """Feishu holds no estimate or importance: ask once per task, on its Edit form prefilled with the
    defaults (sent by the worker like an answer, keyed by the task: never twice), at most ASK_PER_SYNC a
    sync, soonest deadline first; the tasks not asked yet are asked at the next syncs. Saving the form
    remembers the answer (it is the task's own Edit form)."""
    await uow.flush()  # the new tasks' ids
    waiting = await uow.tasksync.unasked(user.user_id, ASK_PREFIX, now, ASK_PER_SYNC)
    far = datetime.max.replace(tzinfo=UTC)
    fresh = [t for t in created if t.deadline is None or t.deadline > now]
    pending = {t.id: t for t in [*fresh, *waiting]}.values()
    for task in sorted(pending, key=lambda t: (t.deadline or far, t.title))[:ASK_PER_SYNC]:
        uuid = f"tse-{task.id}"[:50]
        payload = {
            "open_id": user.open_id,
            "chat_id": "",
            "chat_type": "p2p",
            "message_id": "",
            "uuid": uuid,
            "text": _ask_text(user.locale, task.title, task.estimate_minutes),
            "card": None,
            "form": {
                "task_id": task.id,
                "title": task.title,
                "estimate": task.estimate_minutes,
                "deadline": task.deadline.isoformat() if task.deadline is not None else None,
                "timezone": user.timezone,
                "locale": user.locale,
            },
        }
        await uow.notifications.insert_if_absent(
            ASK_PREFIX + task.id, user_id=user.user_id, kind=NotificationKind.ANSWER, payload=payload, now=now
        )


def _ask_text(locale: str, title: str, minutes: int) -> str:
    """The form's words as text, for a client that cannot show the card."""
    if locale.startswith("zh"):
        return (
            f"「{title}」是从飞书任务同步来的：先按 {minutes} 分钟、不重要算了。"
            f"要改就发送 /edit {title} <分钟> [!]"
        )
    return (
        f"“{title}” came from Feishu Tasks: I assumed {minutes} min, not important. "
        f"To change that, send /edit {title} <minutes> [!]"
    )


def due_of(item: RemoteTask, timezone: str) -> datetime | None:
    """Our deadline for a Feishu due: the instant itself, or for an all-day due the end of that day (23:59)
    in the user's time zone."""
    if item.due is None or not item.all_day:
        return item.due
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    day = item.due.astimezone(UTC).date()
    return datetime.combine(day, time(23, 59), tzinfo=zone).astimezone(UTC)


def _create(  # noqa: PLR0917 - one new task's inputs
    uow: UnitOfWork, user: SyncUser, item: RemoteTask, due: datetime | None, now: datetime, config: SyncConfig
) -> Task:
    title = _title(item.summary)
    task = Task(
        user_id=user.user_id,
        title=title,
        quadrant=4,  # Feishu holds no importance: neither important nor urgent until the deadline nears
        estimate_minutes=config.default_estimate_minutes,
        deadline=due,
        urgency_threshold_at=due - URGENT_WITHIN if due else None,
        status=TaskStatus.OPEN,
        version=1,
        created_at=now,
        updated_at=now,
        feishu_task_guid=item.guid,
        feishu_synced_at=now,
        feishu_title=title,
        feishu_deadline=due,
    )
    uow.tasksync.add(task)
    return task


def _merge(task: Task, item: RemoteTask, due: datetime | None, timezone: str) -> tuple[list[Conflict], bool]:
    """Take Feishu's title and deadline where Feishu changed them since the last sync and we did not;
    (the conflicts: both changed, ours kept), whether the task changed."""
    conflicts: list[Conflict] = []
    changed = False
    title = _title(item.summary)
    if title != task.feishu_title:
        if task.title not in (task.feishu_title, title):
            conflicts.append(Conflict("title", task.title, title))
        elif task.title != title:
            task.title = title
            changed = True
        task.feishu_title = title
    if due != task.feishu_deadline:
        if task.deadline not in (task.feishu_deadline, due):
            conflicts.append(Conflict("deadline", _when(task.deadline, timezone), _when(due, timezone)))
        elif task.deadline != due:
            task.deadline = due
            task.urgency_threshold_at = due - URGENT_WITHIN if due else None
            changed = True
        task.feishu_deadline = due
    return conflicts, changed


async def _report_conflict(
    uow: UnitOfWork, user: SyncUser, task: Task, conflict: Conflict, now: datetime
) -> None:
    """Record the conflict and tell the user once (the answer is keyed by the task, field and Feishu value:
    the same conflict seen again by the next sync is not told twice)."""
    log.info("feishu task %s: %s changed here and in Feishu; ours kept", task.id, conflict.field,
             extra={"user_id": user.user_id})  # fmt: skip
    uow.audit.log(
        "tasksync",
        "task.sync_conflict",
        target=task.id,
        outcome="kept_ours",
        now=now,
        detail={"field": conflict.field, "ours": conflict.ours, "feishu": conflict.theirs},
    )
    digest = hashlib.sha256(f"{task.id}|{conflict.field}|{conflict.theirs}".encode()).hexdigest()[:32]
    uuid = f"tsc-{digest}"
    text = _conflict_text(user.locale, task.title, conflict)
    payload = {
        "open_id": user.open_id,
        "chat_id": "",
        "chat_type": "p2p",
        "message_id": "",
        "uuid": uuid,
        "text": text,
        "card": None,
    }
    # Sent by the worker's delivery loop like any answer the bot could not send at once (same uuid: once).
    await uow.notifications.insert_if_absent(
        f"answer:{uuid}", user_id=user.user_id, kind=NotificationKind.ANSWER, payload=payload, now=now
    )


def _conflict_text(locale: str, title: str, conflict: Conflict) -> str:
    if locale.startswith("zh"):
        what = "标题" if conflict.field == "title" else "截止时间"
        return (
            f"任务「{title}」的{what}在飞书里改成了「{conflict.theirs}」，但你在这里也改过"
            f"（现在是「{conflict.ours}」）：保留了这里的版本，飞书的修改没有同步过来。"
        )
    what = "title" if conflict.field == "title" else "deadline"
    return (
        f"The {what} of “{title}” was changed in Feishu to “{conflict.theirs}”, but you had changed it here "
        f"too (now “{conflict.ours}”): kept yours; the Feishu change was not synced."
    )


def _title(summary: str) -> str:
    title = " ".join(summary.split())[:TITLE_MAX]
    return title or UNTITLED


def _when(at: datetime | None, timezone: str) -> str:
    """An instant as the user reads it (their time zone)."""
    if at is None:
        return "-"
    try:
        return at.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")
    except (ZoneInfoNotFoundError, ValueError):
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


async def queue_complete(uow: UnitOfWork, task: Task, now: datetime) -> None:
    """A synced task was marked done here: complete it in Feishu (after this change commits)."""
    if task.feishu_task_guid is None or task.status != TaskStatus.DONE:
        return
    await effects.queue(
        uow,
        task.user_id,
        COMPLETE_EFFECT,
        key=f"{COMPLETE_EFFECT}:{task.id}:{task.version}",
        payload={"task_id": task.id},
        now=now,
    )
