"""How a task and a time read in a chat reply: local time, the year when it is not this year, overdue."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.texts import t
from scheduler.services.types import TaskView, UserView


def local_time(at: datetime, tz: str, now: datetime, *, with_date: bool = False) -> str:
    """`at` in `tz`: the clock alone for today (unless `with_date`), the date too for another day, and
    the year too for another year, so "2020-01-01 10:00" never reads like next New Year."""
    zone = ZoneInfo(tz)
    local, today = at.astimezone(zone), now.astimezone(zone).date()
    if local.year != today.year:
        return local.strftime("%Y-%m-%d %H:%M")
    if local.date() == today and not with_date:
        return local.strftime("%H:%M")
    return local.strftime("%m-%d %H:%M")


def task_details(task: TaskView, user: UserView, now: datetime, locale: str) -> list[str]:
    """Title, minutes, deadline (marked when it has passed) and urgency: what tells two tasks apart."""
    parts = [task.title, t("tasks.minutes", locale, minutes=task.estimate_minutes)]
    if task.deadline is not None:
        parts.append(t("tasks.due", locale, due=local_time(task.deadline, user.timezone, now)))
        if task.deadline <= now:
            parts.append(t("tasks.overdue", locale))
    if task.quadrant == 1:
        parts.append(t("tasks.urgent", locale))
    return parts


def task_line(task: TaskView, user: UserView, now: datetime, locale: str) -> str:
    return "• " + " · ".join(task_details(task, user, now, locale))
