"""User commands: /help, /today, /tasks, /add, /prefs (/done and /undone: done.py; feedback: feedback.py;
/connect and /disconnect: connect.py)."""

from __future__ import annotations

import logging
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.handlers.connect import connect_router
from bot.handlers.context import MessageContext
from bot.handlers.done import done_router
from bot.handlers.feedback import feedback_router
from bot.handlers.lock import lock_router
from bot.handlers.tasklines import local_time, task_details, task_line
from bot.parse import Add, Help, ParseError, Prefs, Tasks, TimeRange, Today, parse_time_text
from bot.router import Router, is_instance
from bot.texts import parse_error_text, t
from scheduler.services import agenda, inbound, prefs, tasks
from scheduler.services.types import UserView

log = logging.getLogger(__name__)

MAX_LISTED = 30

commands_router: Router[MessageContext, None] = Router("commands")


def short_help(locale: str) -> str:
    return t("help.short", locale)


async def acknowledge(ctx: MessageContext) -> bool:
    """Record a message that changes nothing; False when it was already handled."""
    return ctx.seen(await inbound.acknowledge(ctx.deps.store, ctx.inbound))


def _hhmm(value: time, *, end: bool = False) -> str:
    return "24:00" if end and value == time(0, 0) else value.strftime("%H:%M")


@commands_router.route(is_instance(Help))
async def show_help(ctx: MessageContext) -> None:
    if await acknowledge(ctx):
        ctx.reply(t("help", ctx.locale))


@commands_router.route(is_instance(Today))
async def show_today(ctx: MessageContext) -> None:
    """The next 24 hours: fixed events and blocks (applied ones included) and the free time left."""
    handled = await agenda.today(ctx.deps.store, ctx.inbound, ctx.deps.config.grid_minutes)
    if not ctx.seen(handled):
        return
    day, tz = handled.result, handled.user.timezone
    if not day.items:
        ctx.reply(t("today.empty", ctx.locale) + "\n" + t("today.free", ctx.locale, free=day.free_minutes))
        return
    lines = [t("today.header", ctx.locale, free=day.free_minutes)]
    for item in day.items[:MAX_LISTED]:
        start = local_time(item.start, tz, ctx.now)
        end = item.end.astimezone(ZoneInfo(tz)).strftime("%H:%M")
        mark = t("today.fixed", ctx.locale) if item.fixed else "•"
        lines.append(f"{mark} {start}–{end} {item.title}")
    ctx.reply("\n".join(lines))


@commands_router.route(is_instance(Tasks))
async def show_tasks(ctx: MessageContext) -> None:
    handled = await tasks.open_tasks(ctx.deps.store, ctx.inbound)
    if not ctx.seen(handled):
        return
    found = handled.result
    if not found:
        ctx.reply(t("tasks.empty", ctx.locale))
        return
    lines = [t("tasks.header", ctx.locale, count=len(found))]
    lines += [task_line(x, handled.user, ctx.now, ctx.locale) for x in found[:MAX_LISTED]]
    ctx.reply("\n".join(lines))


def time_reader(text: str, command: str) -> tasks.TimeReader:
    """`text` read against (now, a user's time zone) when the service knows them; a ParseError names
    the command it came from."""

    def read(now: datetime, tz: str) -> datetime:
        try:
            return parse_time_text(text, now, tz)
        except ParseError as exc:
            exc.command = command
            raise

    return read


@commands_router.route(is_instance(Add))
async def add_task(ctx: MessageContext) -> None:
    """A new open task; with a deadline it gets an urgency threshold (a day before) and a job."""
    command = ctx.command
    assert isinstance(command, Add)
    deadline = time_reader(command.deadline_text, "add") if command.deadline_text else None
    handled = await tasks.add_task(
        ctx.deps.store,
        ctx.inbound,
        title=command.title,
        minutes=command.minutes,
        important=command.important,
        deadline=deadline,
        again=command.again,
    )
    if not ctx.seen(handled):
        return
    result, tz = handled.result, handled.user.timezone
    if isinstance(result, tasks.DeadlineUnreadable):
        error = result.error
        ctx.reply(parse_error_text(error, ctx.locale) if isinstance(error, ParseError) else str(error))
    elif isinstance(result, tasks.DuplicateTitle):
        same = result.task
        details = " · ".join(task_details(same, handled.user, ctx.now, ctx.locale))
        said = t("task.duplicate", ctx.locale, title=same.title, details=details, again=_again_line(command))
        ctx.task_reply(said, same.title, same.id)  # "update it (Edit) or add another?"
    elif isinstance(result, tasks.DeadlinePast):
        due = local_time(result.deadline, tz, ctx.now, with_date=True)
        ctx.reply(t("task.deadline_past", ctx.locale, due=due))
    elif result.task.deadline is None:
        task = result.task
        said = t("task.added", ctx.locale, title=task.title, minutes=task.estimate_minutes)
        ctx.task_reply(said, task.title, task.id)  # with an Edit button in the user's own chat
    else:
        due = local_time(result.task.deadline, tz, ctx.now, with_date=True)
        task = result.task
        said = t("task.added_due", ctx.locale, title=task.title, minutes=task.estimate_minutes, due=due)
        ctx.task_reply(said, task.title, task.id)


def _again_line(command: Add) -> str:
    """The /add that adds another task of the same title (the same command with a trailing "+")."""
    line = f"/add {command.title} {command.minutes}"
    if command.deadline_text:
        line += f" by {command.deadline_text}"
    return line + (" !" if command.important else "") + " +"


def _show_prefs(user: UserView, locale: str) -> str:
    quiet = (
        f"{user.quiet_start}-{user.quiet_end}"
        if user.quiet_start and user.quiet_end
        else t("prefs.quiet_off", locale)
    )
    return (
        t(
            "prefs.show",
            locale,
            day=f"{user.day_start}-{user.day_end}",
            quiet=quiet,
            lang=user.locale,
            tz=user.timezone,
            cap=user.daily_card_cap,
        )
        + t(
            "prefs.limits",
            locale,
            buffer=user.buffer_minutes,
            moves=user.max_moves_per_day,
            hours=f"{user.max_planned_minutes / 60:g}",
            extend=user.max_extension_minutes,
            late=t("prefs.on" if user.late_work else "prefs.quiet_off", locale),
        )
        + t(
            "prefs.learn",
            locale,
            factor=f"{user.overrun_factor:.1f}",
            learn=t("prefs.on" if user.learn_overrun else "prefs.quiet_off", locale),
        )
    )


def _range(value: TimeRange) -> tuple[str, str]:
    return _hhmm(value.start), _hhmm(value.end, end=True)


def prefs_change(command: Prefs) -> prefs.PrefsChange:
    quiet = None
    if command.quiet is not None:
        quiet = (command.quiet.start.strftime("%H:%M"), command.quiet.end.strftime("%H:%M"))
    return prefs.PrefsChange(
        day=_range(command.day) if command.day is not None else None,
        quiet=quiet,
        quiet_off=command.quiet_off,
        lang=command.lang,
        timezone=command.timezone,
        daily_cap=command.daily_cap,
        buffer_minutes=command.buffer_minutes,
        max_moves=command.max_moves,
        max_planned_minutes=command.max_planned_minutes,
        max_extension_minutes=command.max_extension_minutes,
        late_work=command.late_work,
        learn_overrun=command.learn_overrun,
    )


@commands_router.route(is_instance(Prefs))
async def show_or_set_prefs(ctx: MessageContext) -> None:
    command = ctx.command
    assert isinstance(command, Prefs)
    change = prefs.PrefsChange() if command.is_query else prefs_change(command)
    handled = await prefs.update_prefs(ctx.deps.store, ctx.inbound, change)
    if not ctx.seen(handled):
        return
    if not handled.result:
        ctx.reply(_show_prefs(handled.user, ctx.locale))
        return
    ctx.reply(t("prefs.updated", ctx.locale) + "\n" + _show_prefs(handled.user, ctx.locale))


commands_router.include(done_router)
commands_router.include(feedback_router)
commands_router.include(lock_router)
commands_router.include(connect_router)
