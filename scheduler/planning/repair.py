"""Repair strategies for unfinished work: push successors (A), extend the day (B), rush merge (C)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

from scheduler.planning.window import BlockM, DaySpan, Frame, Span, merge

MIN_RUSH = 15  # a rush merge that frees less than this is not worth the disruption


@dataclass(frozen=True)
class Push:
    makeup: Span
    moves: tuple[tuple[BlockM, int], ...]  # (block, new start)

    @property
    def minutes_moved(self) -> int:
        return sum(s - b.start for b, s in self.moves)


@dataclass(frozen=True)
class Extension:
    day: DaySpan
    makeup: Span
    new_end: int

    @property
    def minutes(self) -> int:
        return self.new_end - self.day.end


@dataclass(frozen=True)
class Rush:
    block: BlockM
    new_end: int  # the merged block keeps [start, new_end); the make-up gets [new_end, end)


def first_fit(obstacles: list[Span], lo: int, hi: int, length: int, ceil: Callable[[int], int]) -> int | None:
    """Earliest allowed start s >= lo (`ceil`) with [s, s+length) inside hi and clear of the (merged)
    obstacles."""
    s = ceil(lo)
    i = max(0, bisect_right(obstacles, (s, s)) - 1)
    while s + length <= hi:
        while i < len(obstacles) and obstacles[i][1] <= s:
            i += 1
        if i == len(obstacles) or obstacles[i][0] >= s + length:
            return s
        s = ceil(obstacles[i][1])
    return None


def clear(obstacles: list[Span], s: int, e: int) -> bool:
    i = bisect_right(obstacles, (s, s)) - 1
    i = max(i, 0)
    while i < len(obstacles) and obstacles[i][0] < e:
        if obstacles[i][1] > s:
            return False
        i += 1
    return True


def makeup_start(f: Frame, day: DaySpan, unfinished: BlockM | None) -> int:
    lo = max(f.now, day.start, unfinished.end if unfinished else f.now)
    return f.ceil_start(lo)


def push_successors(f: Frame, day: DaySpan, unfinished: BlockM, length: int) -> Push | None:
    """The make-up right after the unfinished block; movable blocks after it shift later in order."""
    m0 = makeup_start(f, day, unfinished)
    hi = min(day.end, f.end)
    if m0 + length > hi:
        return None
    succ = [b for b in f.blocks if b.movable and b.end > m0 and b.start < hi and b.id != unfinished.id]
    if not any(b.start < m0 + length for b in succ):
        return None  # the slot right after is free: a plain make-up block needs no push
    moving = {b.id for b in succ}
    others = [(s, e) for s, e, _ in f.fixed] + [(b.start, b.end) for b in f.blocks if b.id not in moving]
    obstacles = merge(others)
    if not clear(obstacles, m0, m0 + length):
        return None
    cursor = m0 + length
    moves: list[tuple[BlockM, int]] = []
    for b in succ:
        if b.start >= cursor:
            cursor = max(cursor, b.end)
            continue
        s = first_fit(obstacles, cursor, hi, b.minutes, f.ceil_start)
        if s is None:
            return None
        moves.append((b, s))
        cursor = s + b.minutes
    return Push((m0, m0 + length), tuple(moves))


def extend_day(f: Frame, day: DaySpan, unfinished: BlockM | None, length: int) -> Extension | None:
    """Place the work at the end of the day and end the day that much later: at most the user's maximum
    past the usual day end, and never past midnight unless the user allows late work."""
    busy = list(f.busy)
    # start in the free tail of the day if there is one, else at the day end (or now, if later)
    lo = max(f.now, unfinished.end if unfinished else f.now)
    tail = max([e for s, e in busy if s < day.end and e > lo] + [lo, day.start])
    nxt = min([d.start for d in f.days if d.start > day.start] + [f.end])
    cap = day.base_end + f.max_extension
    if not f.late_work:
        cap = min(cap, day.midnight)
    hi = min(f.end, nxt, cap)
    s = first_fit(busy, tail, hi, length, f.ceil_start)
    if s is None or s + length <= day.end:
        return None
    return Extension(day, (s, s + length), s + length)


def rush_merge(f: Frame, day: DaySpan, unfinished: BlockM | None, length: int) -> Rush | None:
    """Halve the next movable block of the day and give its second half to the unfinished work."""
    # the halved block stays where it is: it must lie inside this day's window (not in the early morning)
    lo = max(f.now, day.start, unfinished.end if unfinished else f.now)
    hi = min(day.end, f.end)
    nxt = next((b for b in f.blocks if b.movable and b.start >= lo and b.end <= hi), None)
    if nxt is None:
        return None
    give = min(length, nxt.minutes // 2)
    cut = f.grid.ceil(nxt.end - give)
    if nxt.end - cut < min(length, MIN_RUSH) or cut <= nxt.start:
        return None
    # the block keeps its place, so it must not already clash with anything (bad input)
    others = merge([(s, e) for s, e, _ in f.fixed] + [(b.start, b.end) for b in f.blocks if b.id != nxt.id])
    if not clear(others, nxt.start, nxt.end):
        return None
    return Rush(nxt, cut)
