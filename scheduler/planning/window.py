"""The 24-hour window: day windows, fixed events expanded (weekly too, DST-correct), busy and free time."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.planning.clock import (
    Grid,
    IdentityMemo,
    dates_between,
    from_min,
    span_on,
    to_min,
    wall_to_min,
    zone,
)
from scheduler.planning.model import (
    BusyItem,
    BusyKind,
    FixedEvent,
    Interval,
    PlanningContext,
    TaskInfo,
    TaskStatus,
)

Span = tuple[int, int]
NOW_STEP = 5  # `now` as a candidate start is rounded up to this many minutes (local clock)


@dataclass(frozen=True)
class BlockM:
    """A block in epoch minutes, with what the engine may do with it."""

    id: str
    task_id: str
    start: int
    end: int
    locked: bool
    past: bool  # started before now: assumed done (or running), never moved
    task_open: bool
    title: str
    makeup_for: str | None = None

    @property
    def movable(self) -> bool:
        return not self.locked and not self.past and self.task_open

    @property
    def minutes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class DaySpan:
    day: date  # the local date the day window starts on
    start: int
    end: int  # with the day's extension, if any
    base_end: int = 0  # the user's usual day end (without extensions)
    midnight: int = 0  # the local midnight at the end of `day`


@dataclass(frozen=True)
class Frame:
    """Everything about the window, in epoch minutes (UTC)."""

    tz: ZoneInfo
    grid: Grid
    now: int
    start: int
    end: int
    days: tuple[DaySpan, ...]  # unclipped day windows of every local date touching the window
    fixed: tuple[tuple[int, int, FixedEvent], ...]  # occurrences, sorted
    blocks: tuple[BlockM, ...]  # sorted by start
    busy: tuple[Span, ...]  # merged fixed events and blocks
    free: tuple[Span, ...]  # window ∩ day windows - busy, starting at an allowed start (see `starts`)
    quiet: tuple[Span, ...]
    preferred: tuple[Span, ...]
    tasks: dict[str, TaskInfo]
    max_extension: int  # the user's bound on extend_day, minutes past the usual day end
    late_work: bool  # extend_day may run past midnight
    max_planned: int  # planned minutes in a local day beyond which a card warns of overcommitment
    # starts allowed besides the grid: every end of a fixed event or block, every day window start, and
    # `now` rounded up to NOW_STEP, so a gap that opens when a class ends at 09:35 is usable from 09:35
    # (sorted, unique)
    anchors: tuple[int, ...] = ()

    def starts(self, lo: int, hi: int, length: int) -> Sequence[int]:
        """Allowed starts s (grid-aligned or an anchor) with lo <= s and s + length <= hi, ascending."""
        grid = self.grid.starts(lo, hi, length)
        anchors, last = self.anchors, hi - length
        i = bisect_left(anchors, lo)
        if i == len(anchors) or anchors[i] > last:
            return grid  # the common case: no anchor in the slot's reach
        j = bisect_right(anchors, last, i)
        extra = [a for a in anchors[i:j] if not self.grid.aligned(a)]
        if not extra:
            return grid
        return sorted([*grid, *extra])

    def ceil_start(self, m: int) -> int:
        """The earliest allowed start at or after m."""
        return _ceil_start(self.grid, self.anchors, m)


def _ceil_start(grid: Grid, anchors: Sequence[int], m: int) -> int:
    i = bisect_left(anchors, m)
    aligned = grid.ceil(m)
    return min(aligned, anchors[i]) if i < len(anchors) else aligned


def merge(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for s, e in sorted(spans):
        if e <= s:
            continue
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def subtract(base: Sequence[Span], holes: Sequence[Span]) -> list[Span]:
    """base minus holes; both sorted and merged."""
    out: list[Span] = []
    j = 0
    for s, e in base:
        cur = s
        while j < len(holes) and holes[j][1] <= cur:
            j += 1
        k = j
        while k < len(holes) and holes[k][0] < e:
            hs, he = holes[k]
            if hs > cur:
                out.append((cur, hs))
            cur = max(cur, he)
            k += 1
        if cur < e:
            out.append((cur, e))
    return out


def overlap(a: int, b: int, spans: Sequence[Span]) -> int:
    return sum(max(0, min(b, e) - max(a, s)) for s, e in spans)


def _local_spans(
    dates: Sequence[date], start: time | None, end: time | None, tz: ZoneInfo
) -> tuple[Span, ...]:
    if start is None or end is None:
        return ()
    return tuple(merge(span_on(d, start, end, tz) for d in dates))


def _occurrences(
    events: Iterable[FixedEvent], tz: ZoneInfo, lo: int, hi: int
) -> list[tuple[int, int, FixedEvent]]:
    out: list[tuple[int, int, FixedEvent]] = []
    dates = dates_between(lo, hi, tz)
    for ev in events:
        if ev.weekday is not None and ev.local_start is not None and ev.local_end is not None:
            for d in dates:
                if d.isoweekday() != ev.weekday:
                    continue
                if (ev.valid_from and d < ev.valid_from) or (ev.valid_until and d > ev.valid_until):
                    continue
                s, e = span_on(d, ev.local_start, ev.local_end, tz)
                if s < hi and e > lo:
                    out.append((s, e, ev))
        elif ev.start is not None and ev.end is not None:
            s, e = to_min(ev.start), to_min(ev.end, ceil=True)
            if s < hi and e > lo and e > s:
                out.append((s, e, ev))
    out.sort(key=lambda o: (o[0], o[1], o[2].id))
    return out


def expand_fixed_events(
    events: Iterable[FixedEvent], tz: str | ZoneInfo, start: datetime, end: datetime
) -> tuple[BusyItem, ...]:
    """Occurrences of one-off and weekly events overlapping [start, end), sorted."""
    zi = zone(tz) if isinstance(tz, str) else tz
    occ = _occurrences(events, zi, to_min(start), to_min(end, ceil=True))
    return tuple(BusyItem(from_min(s), from_min(e), ev.title, BusyKind.FIXED, ev.id) for s, e, ev in occ)


def day_spans(ctx: PlanningContext, tz: ZoneInfo, lo: int, hi: int) -> tuple[DaySpan, ...]:
    prefs = ctx.user
    ext = {x.day: x.day_end for x in ctx.day_extensions}
    out = []
    for d in dates_between(lo, hi, tz):
        s, e = span_on(d, prefs.day_start, ext.get(d, prefs.day_end), tz)
        if s < hi + 1440 and e > lo - 1440:
            base_end = span_on(d, prefs.day_start, prefs.day_end, tz)[1]
            out.append(DaySpan(d, s, e, base_end, wall_to_min(next_day(d), time(0, 0), tz)))
    return tuple(out)


_FRAMES: IdentityMemo[PlanningContext, Frame] = IdentityMemo()


def frame(ctx: PlanningContext) -> Frame:
    """The window facts of a context (memoised for the same context object)."""
    hit = _FRAMES.get(ctx)
    return hit if hit is not None else _FRAMES.put(ctx, _frame(ctx))


def clear_frames() -> None:
    _FRAMES.cache_clear()


def _frame(ctx: PlanningContext) -> Frame:
    tz = zone(ctx.user.timezone)
    now = to_min(ctx.now, ceil=True)
    end = now + ctx.horizon_hours * 60
    grid = Grid(ctx.user.grid_minutes, tz, now, end)
    tasks = {t.id: t for t in ctx.tasks}
    fixed = _occurrences(ctx.fixed_events, tz, now - 1440, end + 1440)
    blocks = []
    for b in ctx.blocks:
        task = tasks.get(b.task_id)
        s, e = to_min(b.start), to_min(b.end, ceil=True)
        blocks.append(
            BlockM(
                id=b.id,
                task_id=b.task_id,
                start=s,
                end=e,
                locked=b.locked,
                past=s < now,
                task_open=task is None or task.status == TaskStatus.OPEN,
                title=task.title if task else b.task_id,
                makeup_for=b.makeup_for,
            )
        )
    blocks.sort(key=lambda b: (b.start, b.end, b.id))
    buffer = max(0, ctx.user.buffer_minutes)  # new work starts this long after a meeting ends
    busy = merge([(s, e + buffer) for s, e, _ in fixed] + [(b.start, b.end) for b in blocks])
    days = day_spans(ctx, tz, now, end)
    inside = merge((max(d.start, now), min(d.end, end)) for d in days)
    ends = {e + buffer for _, e, _ in fixed} | {b.end for b in blocks} | {d.start for d in days}
    ends.add(Grid(NOW_STEP, tz, now, end).ceil(now))
    anchors = tuple(sorted(m for m in ends if now <= m < end))
    free = []
    for s, e in subtract(inside, busy):
        first = _ceil_start(grid, anchors, s)
        if first < e:
            free.append((first, e))
    dates = dates_between(now, end, tz)
    prefs = ctx.user
    return Frame(
        tz=tz,
        grid=grid,
        now=now,
        start=now,
        end=end,
        days=days,
        fixed=tuple(fixed),
        blocks=tuple(blocks),
        busy=tuple(busy),
        free=tuple(free),
        quiet=_local_spans(dates, prefs.quiet_start, prefs.quiet_end, tz),
        preferred=tuple(merge(p for a, b in prefs.preferred for p in _local_spans(dates, a, b, tz))),
        tasks=tasks,
        max_extension=max(0, prefs.max_extension_minutes),
        max_planned=max(0, prefs.max_planned_minutes_per_day),
        late_work=prefs.late_work,
        anchors=anchors,
    )


def free_intervals(ctx: PlanningContext) -> tuple[Interval, ...]:
    """Free time in [now, now + horizon) inside the day windows; each starts on the grid, at the end of a
    busy period, or at `now` rounded up to 5 minutes."""
    return tuple(Interval(from_min(s), from_min(e)) for s, e in frame(ctx).free)


def day_windows(ctx: PlanningContext) -> tuple[Interval, ...]:
    """The user's day windows (with day extensions) clipped to the window."""
    f = frame(ctx)
    spans = merge((max(d.start, f.start), min(d.end, f.end)) for d in f.days)
    return tuple(Interval(from_min(s), from_min(e)) for s, e in spans)


def busy_items(ctx: PlanningContext) -> tuple[BusyItem, ...]:
    """Fixed event occurrences and blocks overlapping the window, sorted by start."""
    f = frame(ctx)
    items = [
        BusyItem(from_min(s), from_min(e), ev.title, BusyKind.FIXED, ev.id)
        for s, e, ev in f.fixed
        if s < f.end and e > f.start
    ]
    items += [
        BusyItem(from_min(b.start), from_min(b.end), b.title, BusyKind.BLOCK, b.id, b.task_id, b.locked)
        for b in f.blocks
        if b.start < f.end and b.end > f.start
    ]
    items.sort(key=lambda i: (i.start, i.end, i.kind, i.id))
    return tuple(items)


LATE_GRACE = 240  # after the day end, "today" still means the day that just ended for this long


def current_day(f: Frame) -> DaySpan | None:
    """The day window `now` belongs to: the latest one that started at or before now (unless it ended
    long ago, e.g. at 03:00 the day to repair is the one starting in the morning), else the next one."""
    started = [d for d in f.days if d.start <= f.now]
    if started:
        latest = max(started, key=lambda d: d.start)
        if f.now < latest.end + LATE_GRACE:
            return latest
    upcoming = [d for d in f.days if f.now < d.start < f.end]
    return min(upcoming, key=lambda d: d.start) if upcoming else None


def in_day_window(f: Frame, s: int, e: int) -> bool:
    return any(d.start <= s and e <= d.end for d in f.days)


def next_day(d: date) -> date:
    return d + timedelta(days=1)
