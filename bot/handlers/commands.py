"""User commands: /help, /today, /tasks, /add, /prefs (/done and /undone: done.py; feedback: feedback.py)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.handlers.context import MessageContext
from bot.handlers.done import done_router
from bot.handlers.feedback import feedback_router
from bot.handlers.localtext import lt
from bot.handlers.tasklines import local_time, task_line
from bot.parse import Add, Help, ParseError, Prefs, Tasks, TimeRange, Today, parse_time_text
from bot.router import Router, is_instance
from bot.texts import parse_error_text, t
from scheduler.planning import busy_items, free_intervals
from scheduler.planning import model as pm
from scheduler.services.context import load_context
from scheduler.services.jobs import sync_job
from store.enums import TaskStatus
from store.models import Task, User

log = logging.getLogger(__name__)

URGENT_WITHIN = timedelta(hours=24)  # a task with a deadline becomes urgent a day before it
MAX_LISTED = 30

commands_router: Router[MessageContext, None] = Router("commands")


def short_help(locale: str) -> str:
    return t("help.short", locale)


def _hhmm(value: time, *, end: bool = False) -> str:
    return "24:00" if end and value == time(0, 0) else value.strftime("%H:%M")


@commands_router.route(is_instance(Help))
async def show_help(ctx: MessageContext) -> None:
    ctx.reply(t("help", ctx.locale))


@commands_router.route(is_instance(Today))
async def show_today(ctx: MessageContext) -> None:
    """The next 24 hours: fixed events and blocks (applied ones included) and the free time left."""
    user = ctx.user
    planning = await load_context(
        ctx.uow, user, ctx.now, pm.Target(kind=pm.TargetKind.TASK), ctx.deps.config.grid_minutes
    )
    items = [i for i in busy_items(planning) if i.end > ctx.now]
    free = sum(iv.minutes for iv in free_intervals(planning))
    if not items:
        ctx.reply(t("today.empty", ctx.locale) + "\n" + lt("today.free", ctx.locale, free=free))
        return
    lines = [lt("today.header", ctx.locale, free=free)]
    for item in items[:MAX_LISTED]:
        start = local_time(item.start, user.timezone, ctx.now)
        end = item.end.astimezone(ZoneInfo(user.timezone)).strftime("%H:%M")
        mark = lt("today.fixed", ctx.locale) if item.kind == pm.BusyKind.FIXED else "•"
        lines.append(f"{mark} {start}–{end} {item.title}")
    ctx.reply("\n".join(lines))


@commands_router.route(is_instance(Tasks))
async def show_tasks(ctx: MessageContext) -> None:
    tasks = list(await ctx.uow.tasks.for_user(ctx.user.id, statuses=(TaskStatus.OPEN,)))
    if not tasks:
        ctx.reply(t("tasks.empty", ctx.locale))
        return
    far = datetime.max.replace(tzinfo=UTC)
    tasks.sort(key=lambda x: (x.deadline or far, x.quadrant, x.created_at, x.id))
    lines = [lt("tasks.header", ctx.locale, count=len(tasks))]
    lines += [task_line(x, ctx.user, ctx.now, ctx.locale) for x in tasks[:MAX_LISTED]]
    ctx.reply("\n".join(lines))


@commands_router.route(is_instance(Add))
async def add_task(ctx: MessageContext) -> None:
    """A new open task; with a deadline it gets an urgency threshold (a day before) and a job."""
    command = ctx.command
    assert isinstance(command, Add)
    deadline: datetime | None = None
    if command.deadline_text:
        try:
            deadline = parse_time_text(command.deadline_text, ctx.now, ctx.user.timezone)
        except ParseError as exc:
            exc.command = "add"
            ctx.reply(parse_error_text(exc, ctx.locale))
            return
        if deadline <= ctx.now:
            due = local_time(deadline, ctx.user.timezone, ctx.now, with_date=True)
            ctx.reply(t("task.deadline_past", ctx.locale, due=due))
            return
    task = Task(
        user_id=ctx.user.id,
        title=command.title,
        quadrant=2 if command.important else 4,
        estimate_minutes=command.minutes,
        deadline=deadline,
        urgency_threshold_at=deadline - URGENT_WITHIN if deadline else None,
        status=TaskStatus.OPEN,
        version=1,
        created_at=ctx.now,
        updated_at=ctx.now,
    )
    ctx.uow.tasks.add(task)
    await sync_job(ctx.uow, task, ctx.now)
    if deadline is None:
        ctx.reply(t("task.added", ctx.locale, title=task.title, minutes=task.estimate_minutes))
    else:
        due = local_time(deadline, ctx.user.timezone, ctx.now, with_date=True)
        ctx.reply(t("task.added_due", ctx.locale, title=task.title, minutes=task.estimate_minutes, due=due))


def _show_prefs(user: User, locale: str) -> str:
    quiet = (
        f"{user.quiet_start}-{user.quiet_end}"
        if user.quiet_start and user.quiet_end
        else t("prefs.quiet_off", locale)
    )
    return t(
        "prefs.show",
        locale,
        day=f"{user.day_start}-{user.day_end}",
        quiet=quiet,
        lang=user.locale,
        tz=user.timezone,
        cap=user.daily_card_cap,
    )


def _range(value: TimeRange) -> tuple[str, str]:
    return _hhmm(value.start), _hhmm(value.end, end=True)


@commands_router.route(is_instance(Prefs))
async def prefs(ctx: MessageContext) -> None:
    command = ctx.command
    assert isinstance(command, Prefs)
    user = ctx.user
    if command.is_query:
        ctx.reply(_show_prefs(user, ctx.locale))
        return
    if command.day is not None:
        user.day_start, user.day_end = _range(command.day)
    if command.quiet_off:
        user.quiet_start = user.quiet_end = None
    elif command.quiet is not None:
        user.quiet_start, user.quiet_end = (
            command.quiet.start.strftime("%H:%M"),
            command.quiet.end.strftime("%H:%M"),
        )
    if command.lang is not None:
        user.locale = command.lang
    if command.timezone is not None:
        user.timezone = command.timezone
    if command.daily_cap is not None:
        user.daily_card_cap = command.daily_cap
    user.updated_at = ctx.now
    ctx.reply(t("prefs.updated", ctx.locale) + "\n" + _show_prefs(user, ctx.locale))


commands_router.include(done_router)
commands_router.include(feedback_router)
