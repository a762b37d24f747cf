"""Planning contexts from compact scenario dicts (the golden files' format; pure, no file I/O).

Format: `now` ("YYYY-MM-DD HH:MM", local), or `due` (when a job fell due: planned when a proactive card may
go out, scheduler.planning.awake);
`user` {timezone, locale, day "08:00-22:30", quiet, preferred, grid, max_extension, late_work, max_moves,
buffer};
`tasks` [{id, title, q, est, deadline, threshold, status}];
`fixed` [{id, title, at "YYYY-MM-DD HH:MM-HH:MM"} or {id, title, weekly: 1..7, at "HH:MM-HH:MM",
from, until}];
`blocks` [{id, task, at, locked, makeup_for}];
`target` {task: id}, {conflict: block id} or {unfinished: block id, remaining, choices};
`extensions` [{day, end}]; `horizon`; `moved_today` (blocks already moved today)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from scheduler.planning.awake import card_time
from scheduler.planning.model import (
    Block,
    DayExtension,
    FixedEvent,
    PlanningContext,
    Target,
    TargetKind,
    TaskInfo,
    TaskStatus,
    UserPrefs,
)


def _t(s: str) -> time:
    h, m = s.split(":")
    return time(int(h), int(m))


def _span_t(s: str) -> tuple[time, time]:
    a, b = s.split("-")
    return _t(a), _t(b)


def _dt(s: str, tz: ZoneInfo) -> datetime:
    return datetime.strptime(s, "%Y-%m-%d %H:%M").replace(tzinfo=tz)


def _at(s: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """'2026-11-30 14:00-15:40'; an end at or before the start is on the next day."""
    day_s, span = s.split(" ")
    a, b = _span_t(span)
    d = date.fromisoformat(day_s)
    end_day = d if b > a else d + timedelta(days=1)
    return datetime.combine(d, a, tzinfo=tz), datetime.combine(end_day, b, tzinfo=tz)


def build_context(sc: dict[str, Any]) -> PlanningContext:
    """The context a scenario dict describes; KeyError/ValueError on a malformed one."""
    u = sc.get("user", {})
    tzname = u.get("timezone", "Asia/Shanghai")
    tz = ZoneInfo(tzname)
    day = _span_t(u.get("day", "08:00-22:30"))
    quiet = _span_t(u["quiet"]) if u.get("quiet") else (None, None)
    prefs = UserPrefs(
        timezone=tzname,
        locale=u.get("locale", "zh"),
        day_start=day[0],
        day_end=day[1],
        quiet_start=quiet[0],
        quiet_end=quiet[1],
        preferred=tuple(_span_t(p) for p in u.get("preferred", ())),
        grid_minutes=u.get("grid", 15),
        max_extension_minutes=u.get("max_extension", 90),
        late_work=bool(u.get("late_work", False)),
        max_moves_per_day=u.get("max_moves", 2),
        buffer_minutes=u.get("buffer", 0),
    )
    tasks = tuple(
        TaskInfo(
            id=t["id"],
            title=t.get("title", t["id"]),
            quadrant=t.get("q", 1),
            estimate_minutes=t.get("est", 60),
            deadline=_dt(t["deadline"], tz) if t.get("deadline") else None,
            urgency_threshold_at=_dt(t["threshold"], tz) if t.get("threshold") else None,
            status=TaskStatus(t.get("status", "open")),
        )
        for t in sc.get("tasks", ())
    )
    fixed = []
    for f in sc.get("fixed", ()):
        if "weekly" in f:
            a, b = _span_t(f["at"])
            fixed.append(
                FixedEvent(
                    f["id"],
                    f.get("title", f["id"]),
                    weekday=f["weekly"],
                    local_start=a,
                    local_end=b,
                    valid_from=date.fromisoformat(str(f["from"])) if f.get("from") else None,
                    valid_until=date.fromisoformat(str(f["until"])) if f.get("until") else None,
                )
            )
        else:
            s, e = _at(f["at"], tz)
            fixed.append(FixedEvent(f["id"], f.get("title", f["id"]), start=s, end=e))
    blocks = []
    for b in sc.get("blocks", ()):
        s, e = _at(b["at"], tz)
        blocks.append(
            Block(b["id"], b["task"], s, e, locked=b.get("locked", False), makeup_for=b.get("makeup_for"))
        )
    tg = sc["target"]
    if "task" in tg:
        target = Target(TargetKind.TASK, task_id=tg["task"])
    elif "conflict" in tg:
        target = Target(TargetKind.CONFLICT, block_id=tg["conflict"])
    else:
        target = Target(
            TargetKind.UNFINISHED,
            block_id=tg.get("unfinished"),
            remaining_minutes=tg.get("remaining"),
            choices=tuple(tg.get("choices", ())),
        )
    ext = tuple(
        DayExtension(date.fromisoformat(str(x["day"])), _t(x["end"])) for x in sc.get("extensions", ())
    )
    now = _dt(sc["now"], tz) if "now" in sc else card_time(_dt(sc["due"], tz), prefs).astimezone(tz)
    return PlanningContext(
        now=now,
        user=prefs,
        target=target,
        tasks=tasks,
        fixed_events=tuple(fixed),
        blocks=tuple(blocks),
        day_extensions=ext,
        horizon_hours=sc.get("horizon", 24),
        moved_today=sc.get("moved_today", 0),
    )
