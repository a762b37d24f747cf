"""`smartflow schedule`: a user's next 24 hours (fixed events, blocks, free time) as text or stable JSON."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.planning import model as pm
from scheduler.planning.window import busy_items, day_windows, free_intervals
from scheduler.services.context import load_context
from store import UnitOfWork

JSON_SCHEMA = "smartflow.schedule.v1"  # bump when docs/cli-json.md changes incompatibly


class ScheduleErrorCode(StrEnum):
    UNKNOWN_USER = "unknown_user"


class ScheduleError(Exception):
    def __init__(self, code: ScheduleErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- the view (pure)


class ItemKind(StrEnum):
    FIXED = "fixed"
    BLOCK = "block"
    FREE = "free"


@dataclass(frozen=True)
class ScheduleItem:
    kind: ItemKind
    start: datetime  # in the user's time zone
    end: datetime
    title: str = ""
    id: str | None = None
    weekly: bool = False  # fixed: a weekly event's occurrence
    task_id: str | None = None  # block
    task_key: str | None = None
    locked: bool = False
    source: str | None = None

    @property
    def minutes(self) -> int:
        return _minutes(self.start, self.end)


@dataclass(frozen=True)
class ScheduleView:
    open_id: str
    name: str
    timezone: str
    locale: str
    now: datetime
    window_start: datetime
    window_end: datetime
    day_windows: tuple[tuple[datetime, datetime], ...]
    items: tuple[ScheduleItem, ...]  # sorted by start; busy items may start before the window

    def minutes(self, kind: ItemKind) -> int:
        """Minutes of `kind` inside the window (busy items clipped to it)."""
        total = 0
        for item in self.items:
            if item.kind == kind:
                s = max(item.start.astimezone(UTC), self.window_start.astimezone(UTC))
                e = min(item.end.astimezone(UTC), self.window_end.astimezone(UTC))
                total += max(0, _minutes(s, e))
        return total


def _minutes(start: datetime, end: datetime) -> int:
    # In UTC: Python subtracts two datetimes sharing one tzinfo as wall-clock times, which is wrong by an
    # hour across a daylight-saving change.
    return int((end.astimezone(UTC) - start.astimezone(UTC)).total_seconds() // 60)


_ORDER = {ItemKind.FIXED: 0, ItemKind.BLOCK: 1, ItemKind.FREE: 2}


def build_view(ctx: pm.PlanningContext, open_id: str, name: str) -> ScheduleView:
    """Busy items and free intervals of the context's window, in the user's time zone."""
    tz = ZoneInfo(ctx.user.timezone)
    events = {e.id: e for e in ctx.fixed_events}
    blocks = {b.id: b for b in ctx.blocks}
    tasks = {t.id: t for t in ctx.tasks}
    items: list[ScheduleItem] = []
    for busy in busy_items(ctx):
        start, end = busy.start.astimezone(tz), busy.end.astimezone(tz)
        if busy.kind == pm.BusyKind.FIXED:
            ev = events.get(busy.id)
            weekly = ev is not None and ev.weekday is not None
            items.append(ScheduleItem(ItemKind.FIXED, start, end, busy.title, busy.id, weekly=weekly))
        else:
            b = blocks.get(busy.id)
            task = tasks.get(busy.task_id or "")
            items.append(
                ScheduleItem(
                    ItemKind.BLOCK,
                    start,
                    end,
                    busy.title,
                    busy.id,
                    task_id=busy.task_id,
                    task_key=task.key if task else None,
                    locked=busy.locked,
                    source=b.source.value if b else None,
                )
            )
    now = ctx.now.astimezone(tz)
    end = (ctx.now.astimezone(UTC) + timedelta(hours=ctx.horizon_hours)).astimezone(tz)  # real hours
    # The planner counts in whole minutes from `now` rounded up, so with seconds in `now` its last free
    # interval and day window end up to a minute after the window: clip them to it.
    items += [
        ScheduleItem(ItemKind.FREE, s, e)
        for s, e in _clipped(((iv.start, iv.end) for iv in free_intervals(ctx)), now, end)
    ]
    items.sort(key=lambda i: (i.start.astimezone(UTC), _ORDER[i.kind], i.end.astimezone(UTC), i.id or ""))
    return ScheduleView(
        open_id=open_id,
        name=name,
        timezone=ctx.user.timezone,
        locale=ctx.user.locale,
        now=now,
        window_start=now,
        window_end=end,
        day_windows=tuple(_clipped(((w.start, w.end) for w in day_windows(ctx)), now, end)),
        items=tuple(items),
    )


def _clipped(
    spans: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime
) -> list[tuple[datetime, datetime]]:
    """The non-empty parts of `spans` inside [start, end), in the time zone of `start`."""
    tz = start.tzinfo
    out = []
    for span_start, span_end in spans:
        s, e = max(span_start, start).astimezone(tz), min(span_end, end).astimezone(tz)
        if s < e:
            out.append((s, e))
    return out


async def load_schedule(uow: UnitOfWork, open_id: str, now: datetime, grid_minutes: int = 15) -> ScheduleView:
    """The view for `open_id` at `now`; a naive `now` is a wall-clock time in the user's time zone."""
    user = await uow.users.get_by_open_id(open_id)
    if user is None:
        raise ScheduleError(ScheduleErrorCode.UNKNOWN_USER, f"no user with open_id {open_id!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        now = now.replace(tzinfo=ZoneInfo(user.timezone))
    ctx = await load_context(uow, user, now, pm.Target(kind=pm.TargetKind.TASK), grid_minutes)
    return build_view(ctx, user.open_id, user.name)


# --------------------------------------------------------------------------- output


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


def to_json(view: ScheduleView) -> dict[str, Any]:
    """The documented shape of docs/cli-json.md (`smartflow.schedule.v1`)."""
    items: list[dict[str, Any]] = []
    for i in view.items:
        item: dict[str, Any] = {
            "kind": i.kind.value,
            "start": _iso(i.start),
            "end": _iso(i.end),
            "minutes": i.minutes,
        }
        if i.kind == ItemKind.FIXED:
            item |= {"id": i.id, "title": i.title, "recurrence": "weekly" if i.weekly else "once"}
        elif i.kind == ItemKind.BLOCK:
            item |= {
                "id": i.id,
                "title": i.title,
                "task": {"id": i.task_id, "key": i.task_key},
                "locked": i.locked,
                "source": i.source,
            }
        items.append(item)
    return {
        "schema": JSON_SCHEMA,
        "user": {
            "open_id": view.open_id,
            "name": view.name,
            "timezone": view.timezone,
            "locale": view.locale,
        },
        "now": _iso(view.now),
        "window": {"start": _iso(view.window_start), "end": _iso(view.window_end)},
        "day_windows": [{"start": _iso(s), "end": _iso(e)} for s, e in view.day_windows],
        "items": items,
        "totals": {
            "fixed_minutes": view.minutes(ItemKind.FIXED),
            "block_minutes": view.minutes(ItemKind.BLOCK),
            "free_minutes": view.minutes(ItemKind.FREE),
        },
    }


def _hm(dt: datetime, base: date) -> str:
    days = (dt.date() - base).days
    return dt.strftime("%H:%M") + (f"+{days}d" if days > 0 else "")


def render_text(view: ScheduleView) -> str:
    """A compact listing grouped by local date."""
    fmt = "%Y-%m-%d %H:%M"
    lines = [
        f"{view.name} ({view.open_id}) · {view.timezone} · "
        f"{view.window_start.strftime(fmt)} → {view.window_end.strftime(fmt)}"
    ]
    current: date | None = None
    for i in view.items:
        day = i.start.date()
        if day != current:
            current = day
            lines.append(day.strftime("%Y-%m-%d %a"))
        span = f"{_hm(i.start, day)}–{_hm(i.end, day)}"
        if i.kind == ItemKind.FIXED:
            text = f"{i.title}" + (" (weekly)" if i.weekly else "")
        elif i.kind == ItemKind.BLOCK:
            text = f"{i.title}" + (" [locked]" if i.locked else "")
        else:
            text = f"{i.minutes} min"
        lines.append(f"  {span:<13} {i.kind.value:<5}  {text}")
    if len(view.items) == 0:
        lines.append("  (nothing in the next 24 hours: outside the day window)")
    lines.append(
        f"free {view.minutes(ItemKind.FREE)} min · blocks {view.minutes(ItemKind.BLOCK)} min · "
        f"fixed {view.minutes(ItemKind.FIXED)} min"
    )
    return "\n".join(lines)
