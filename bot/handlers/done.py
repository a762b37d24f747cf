"""/done and /undone: which task the user means (or a numbered list to pick from), then the status change."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.handlers.context import MessageContext
from bot.handlers.tasklines import local_time, task_details
from bot.parse import ParseError, parse_time_text
from bot.parse.model import Done, Drop, Edit, Reopen
from bot.router import Router, is_instance
from bot.texts import parse_error_text, t
from scheduler.services import tasks
from scheduler.services.tasks import Miss, TaskRef, Unpicked
from scheduler.services.types import TaskView, UserView

MAX_CHOICES = 5  # a longer list is cut, with "...and N more"

done_router: Router[MessageContext, None] = Router("done")


def _choices(ctx: MessageContext, user: UserView, found: Sequence[TaskView]) -> list[str]:
    plain = [" · ".join(task_details(x, user, ctx.now, ctx.locale)) for x in found]
    lines = list(plain)
    for i, task in enumerate(found):
        if plain.count(plain[i]) > 1:  # same title, minutes and deadline: when it was added tells them apart
            added = local_time(task.created_at, user.timezone, ctx.now, with_date=True)
            lines[i] += " · " + t("task.added_at", ctx.locale, at=added)
    return [f"{n}. {line}" for n, line in enumerate(lines[:MAX_CHOICES], 1)]


def _list_reply(ctx: MessageContext, user: UserView, command: str, miss: Unpicked, header: str) -> str:
    lines = [header, *_choices(ctx, user, miss.tasks)]
    if len(miss.tasks) > MAX_CHOICES:
        lines.append(t("task.pick_more", ctx.locale, more=len(miss.tasks) - MAX_CHOICES))
    lines.append(t("task.pick_how", ctx.locale, example=f"/{command} {miss.ref} #1"))
    return "\n".join(lines)


def unpicked_text(
    ctx: MessageContext, user: UserView, miss: Unpicked, name: str, not_found: str = "task.not_found"
) -> str:
    """Why no single task was meant (nothing, too short, several: a numbered list and how to pick);
    `name` is the command to show in the example ("done", "admin dryrun ou_x"), `user` whose tasks."""
    if miss.why == Miss.TOO_SHORT:
        return t("task.ref_too_short", ctx.locale, ref=miss.ref)
    if miss.why == Miss.NOT_FOUND:
        return t(not_found, ctx.locale, ref=miss.ref)
    if miss.why == Miss.OUT_OF_RANGE:
        header = t("task.pick_range", ctx.locale, ref=miss.ref, count=len(miss.tasks), n=miss.pick)
    else:
        header = t("task.pick", ctx.locale, ref=miss.ref, count=len(miss.tasks))
    return _list_reply(ctx, user, name, miss, header)


def task_ref(command: Done | Reopen | Drop) -> TaskRef:
    return TaskRef(command.task_ref, command.pick, command.whole)


@done_router.route(is_instance(Done))
async def mark_done(ctx: MessageContext) -> None:
    command = ctx.command
    assert isinstance(command, Done)
    handled = await tasks.mark_done(ctx.deps.store, ctx.inbound, task_ref(command))
    if not ctx.seen(handled):
        return
    result = handled.result
    if isinstance(result, Unpicked):
        ctx.reply(unpicked_text(ctx, handled.user, result, "done"))
        return
    title = result.task.title
    hint = t("task.undo_hint", ctx.locale, command=f"/undone {title}")
    ctx.reply(t("task.done", ctx.locale, title=title) + hint)


@done_router.route(is_instance(Edit))
async def edit(ctx: MessageContext) -> None:
    """Change a task's minutes, deadline or importance; the reply shows it as it is now."""
    command = ctx.command
    assert isinstance(command, Edit)
    reader = None
    if command.deadline_text is not None:
        text = command.deadline_text

        def reader(now: datetime, tz: str) -> datetime:
            return parse_time_text(text, now, tz)

    handled = await tasks.edit_task(
        ctx.deps.store,
        ctx.inbound,
        TaskRef(command.task_ref),
        minutes=command.minutes,
        deadline=reader,
        clear_deadline=command.clear_deadline,
        important=command.important,
    )
    if not ctx.seen(handled):
        return
    result = handled.result
    if isinstance(result, Unpicked):
        ctx.reply(unpicked_text(ctx, handled.user, result, "edit"))
    elif isinstance(result, tasks.DeadlineUnreadable):
        error = result.error
        ctx.reply(parse_error_text(error, ctx.locale) if isinstance(error, ParseError) else str(error))
    elif isinstance(result, tasks.DeadlinePast):
        due = local_time(result.deadline, handled.user.timezone, ctx.now, with_date=True)
        ctx.reply(t("task.edit_deadline_past", ctx.locale, due=due))
    else:
        details = " · ".join(task_details(result.task, handled.user, ctx.now, ctx.locale))
        ctx.reply(t("task.edited", ctx.locale, details=details))


@done_router.route(is_instance(Drop))
async def drop(ctx: MessageContext) -> None:
    """The user gives a task up: canceled, its job with it; /undone brings it back."""
    command = ctx.command
    assert isinstance(command, Drop)
    handled = await tasks.drop_task(ctx.deps.store, ctx.inbound, task_ref(command))
    if not ctx.seen(handled):
        return
    result = handled.result
    if isinstance(result, Unpicked):
        ctx.reply(unpicked_text(ctx, handled.user, result, "drop"))
        return
    ctx.reply(t("task.dropped", ctx.locale, title=result.task.title))


@done_router.route(is_instance(Reopen))
async def reopen(ctx: MessageContext) -> None:
    """A task marked done by mistake is open again; its job is re-armed like any task edit."""
    command = ctx.command
    assert isinstance(command, Reopen)
    handled = await tasks.reopen_task(ctx.deps.store, ctx.inbound, task_ref(command))
    if not ctx.seen(handled):
        return
    result = handled.result
    if isinstance(result, Unpicked):
        ctx.reply(unpicked_text(ctx, handled.user, result, "undone", "task.not_found_done"))
        return
    ctx.reply(t("task.reopened", ctx.locale, title=result.task.title))
