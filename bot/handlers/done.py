"""/done and /undone: which task the user means (or a numbered list to pick from), then the status change."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from bot.handlers.context import MessageContext
from bot.handlers.tasklines import local_time, task_details
from bot.parse.model import Done, Reopen
from bot.router import Router, is_instance
from bot.texts import t
from scheduler.services.jobs import sync_job
from scheduler.services.taskref import MatchKind, match_task_ref
from store.enums import TaskStatus
from store.models import Task

MAX_CHOICES = 5  # a longer list is cut, with "...and N more"

done_router: Router[MessageContext, None] = Router("done")


def open_order(tasks: Sequence[Task]) -> list[Task]:
    """The order /tasks lists them in, so "#2" means the same task in both replies."""
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(tasks, key=lambda x: (x.deadline or far, x.quadrant, x.created_at, x.id))


def _done_order(tasks: Sequence[Task]) -> list[Task]:
    """The most recently completed first: an accidental /done is undone right away."""
    return sorted(tasks, key=lambda x: (x.updated_at, x.created_at, x.id), reverse=True)


def _choices(ctx: MessageContext, tasks: Sequence[Task]) -> list[str]:
    plain = [" · ".join(task_details(x, ctx.user, ctx.now, ctx.locale)) for x in tasks]
    lines = list(plain)
    for i, task in enumerate(tasks):
        if plain.count(plain[i]) > 1:  # same title, minutes and deadline: when it was added tells them apart
            added = local_time(task.created_at, ctx.user.timezone, ctx.now, with_date=True)
            lines[i] += " · " + t("task.added_at", ctx.locale, at=added)
    return [f"{n}. {line}" for n, line in enumerate(lines[:MAX_CHOICES], 1)]


def _list_reply(ctx: MessageContext, command: str, ref: str, tasks: Sequence[Task], header: str) -> str:
    lines = [header, *_choices(ctx, tasks)]
    if len(tasks) > MAX_CHOICES:
        lines.append(t("task.pick_more", ctx.locale, more=len(tasks) - MAX_CHOICES))
    lines.append(t("task.pick_how", ctx.locale, example=f"/{command} {ref} #1"))
    return "\n".join(lines)


async def _resolve(ctx: MessageContext, command: Done | Reopen, status: TaskStatus, name: str) -> Task | None:
    """The one task the command names, or None after replying why not (nothing, too short, several)."""
    tasks = list(await ctx.uow.tasks.for_user(ctx.user.id, statuses=(status,)))
    order = open_order if status == TaskStatus.OPEN else _done_order
    key = "task.not_found" if status == TaskStatus.OPEN else "task.not_found_done"
    return pick_task(ctx, tasks, (command.task_ref, command.pick, command.whole), name, order, key)


def pick_task(  # noqa: PLR0917 - one reply path for /done, /undone and /admin
    ctx: MessageContext,
    tasks: Sequence[Task],
    named: tuple[str, int | None, str | None],
    name: str,
    order: Callable[[Sequence[Task]], list[Task]] = open_order,
    not_found: str = "task.not_found",
) -> Task | None:
    """The one task `named` (reference, #n pick, the whole text) means among `tasks`, or None after
    replying why not (nothing, too short, several: a numbered list and how to pick); `name` is the
    command to show in the example ("done", "admin dryrun ou_x")."""
    ref, pick, whole = named
    if whole is not None and match_task_ref(tasks, whole).tasks:
        ref, pick = whole, None  # a title with "#482" in it ("PR #482" of "Review PR #482")
    match = match_task_ref(tasks, ref)
    found = order(match.tasks)
    if not found:
        if match.kind == MatchKind.TOO_SHORT:
            ctx.reply(t("task.ref_too_short", ctx.locale, ref=ref))
        else:
            ctx.reply(t(not_found, ctx.locale, ref=ref))
        return None
    if pick is not None:
        if 1 <= pick <= len(found):
            return found[pick - 1]
        header = t("task.pick_range", ctx.locale, ref=ref, count=len(found), n=pick)
        ctx.reply(_list_reply(ctx, name, ref, found, header))
        return None
    if len(found) == 1:
        return found[0]
    header = t("task.pick", ctx.locale, ref=ref, count=len(found))
    ctx.reply(_list_reply(ctx, name, ref, found, header))
    return None


def _set_status(task: Task, status: TaskStatus, now: datetime) -> None:
    task.status = status
    task.version += 1
    task.updated_at = now


@done_router.route(is_instance(Done))
async def mark_done(ctx: MessageContext) -> None:
    command = ctx.command
    assert isinstance(command, Done)
    task = await _resolve(ctx, command, TaskStatus.OPEN, "done")
    if task is None:
        return
    _set_status(task, TaskStatus.DONE, ctx.now)
    await sync_job(ctx.uow, task, ctx.now)
    hint = t("task.undo_hint", ctx.locale, command=f"/undone {task.title}")
    ctx.reply(t("task.done", ctx.locale, title=task.title) + hint)


@done_router.route(is_instance(Reopen))
async def reopen(ctx: MessageContext) -> None:
    """A task marked done by mistake is open again; its job is re-armed (sync_job) like any task edit."""
    command = ctx.command
    assert isinstance(command, Reopen)
    task = await _resolve(ctx, command, TaskStatus.DONE, "undone")
    if task is None:
        return
    _set_status(task, TaskStatus.OPEN, ctx.now)
    await sync_job(ctx.uow, task, ctx.now)
    ctx.reply(t("task.reopened", ctx.locale, title=task.title))
