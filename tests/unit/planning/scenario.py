"""Build planning contexts from compact scenario dicts (golden files) and render candidates as text."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from scheduler.planning.model import (
    Block,
    Candidate,
    Change,
    ChangeKind,
    DayExtension,
    FixedEvent,
    PlanningContext,
    Target,
    TargetKind,
    TaskInfo,
    TaskStatus,
    UserPrefs,
)

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"


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
    return PlanningContext(
        now=_dt(sc["now"], tz),
        user=prefs,
        target=target,
        tasks=tasks,
        fixed_events=tuple(fixed),
        blocks=tuple(blocks),
        day_extensions=ext,
        horizon_hours=sc.get("horizon", 24),
    )


def _hm(dt: datetime | None, tz: ZoneInfo) -> str:
    assert dt is not None
    return f"{dt.astimezone(tz):%H:%M}"


def render_change(c: Change, tz: ZoneInfo) -> str:
    if c.kind == ChangeKind.EXTEND_DAY:
        assert c.day
        assert c.old_day_end
        assert c.new_day_end
        return f"extend {c.day:%m-%d} {c.old_day_end:%H:%M}>{c.new_day_end:%H:%M}"
    assert c.start is not None
    span = f"{c.start.astimezone(tz):%m-%d} {_hm(c.start, tz)}-{_hm(c.end, tz)}"
    if c.kind == ChangeKind.ADD_BLOCK:
        return f"add {c.task_id} {span}"
    return f"{c.kind.value.split('_')[0]} {c.block_id} {_hm(c.old_start, tz)}-{_hm(c.old_end, tz)}>{span}"


def render(c: Candidate, tz: ZoneInfo) -> str:
    if not c.is_change:
        extra = f" [{','.join(c.options)}]" if c.options else ""
        q = f" {c.question.code}" if c.question else ""
        return f"{c.type.value}:{q}{extra}".rstrip(":")
    return f"{c.type.value}: " + "; ".join(render_change(ch, tz) for ch in c.changes)


def load_golden() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for p in sorted(GOLDEN_DIR.glob("*.yaml")):
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        out.append((p.stem, data))
    return out
