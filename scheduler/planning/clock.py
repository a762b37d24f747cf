"""Minute arithmetic in UTC epoch minutes, with local wall-clock conversions and the local grid."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from scheduler.planning.errors import PlanningInputError

MINUTES_PER_DAY = 1440


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError) as exc:
        raise PlanningInputError(f"unknown time zone {name!r}") from exc


def to_min(dt: datetime, *, ceil: bool = False) -> int:
    """Epoch minutes of an aware instant (floor, or ceil for an end / `now`)."""
    if dt.tzinfo is None:
        raise PlanningInputError(f"naive datetime {dt.isoformat()}")
    ts = dt.timestamp()
    m = int(ts // 60)
    if ceil and m * 60 < ts:
        m += 1
    return m


def from_min(m: int) -> datetime:
    return datetime.fromtimestamp(m * 60, tz=UTC)


def local_dt(m: int, tz: ZoneInfo) -> datetime:
    return from_min(m).astimezone(tz)


def offset_min(m: int, tz: ZoneInfo) -> int:
    off = local_dt(m, tz).utcoffset()
    assert off is not None
    return int(off.total_seconds() // 60)


def wall_to_min(day: date, t: time, tz: ZoneInfo) -> int:
    """A local wall-clock time as epoch minutes (a time skipped by DST maps forward, fold=0)."""
    # `fold` is part of the key: equal times with another fold compare (and hash) equal
    return _wall_to_min(day, t, t.fold, tz)


@lru_cache(maxsize=4096)
def _wall_to_min(day: date, t: time, fold: int, tz: ZoneInfo) -> int:
    """Memoised: every context of a batch asks for the same few days' day starts and ends."""
    return int(datetime.combine(day, t, tzinfo=tz).timestamp() // 60)


def span_on(day: date, start: time, end: time, tz: ZoneInfo) -> tuple[int, int]:
    """The local span start..end that begins on `day`; an end at or before the start is on the next day."""
    s = wall_to_min(day, start, tz)
    end_day = day if end > start else day + timedelta(days=1)
    return s, wall_to_min(end_day, end, tz)


def local_date(m: int, tz: ZoneInfo) -> date:
    return local_dt(m, tz).date()


def dates_between(start: int, end: int, tz: ZoneInfo) -> list[date]:
    """Every local date from the day before `start` to the date of `end` (spans may start the day before)."""
    first = local_date(start, tz) - timedelta(days=1)
    last = local_date(end, tz)
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """Remembers the results for the last few argument objects, by identity: hashing a whole context
    costs more than planning it, and callers pass the same object to observe, generate and texts."""

    def __init__(self, size: int = 8) -> None:
        self._size = size
        self._items: list[tuple[K, V]] = []

    def get(self, key: K) -> V | None:
        for k, v in self._items:
            if k is key:
                return v
        return None

    def put(self, key: K, value: V) -> V:
        self._items.append((key, value))
        if len(self._items) > self._size:
            del self._items[0]
        return value

    def cache_clear(self) -> None:
        self._items.clear()


class Grid:
    """Start times align to `step` minutes counted from local midnight."""

    def __init__(self, step: int, tz: ZoneInfo, start: int, end: int) -> None:
        self.step = max(1, step)
        self.tz = tz
        off_a, off_b = offset_min(start, tz), offset_min(end, tz)
        # a constant offset over the window (no DST change) makes alignment pure arithmetic
        self._off: int | None = off_a if off_a == off_b else None

    def _offset(self, m: int) -> int:
        return self._off if self._off is not None else offset_min(m, self.tz)

    def ceil(self, m: int) -> int:
        return m + (-(m + self._offset(m)) % self.step)

    def floor(self, m: int) -> int:
        return m - ((m + self._offset(m)) % self.step)

    def aligned(self, m: int) -> bool:
        return (m + self._offset(m)) % self.step == 0

    def starts(self, lo: int, hi: int, length: int) -> range:
        """Aligned starts s with lo <= s and s + length <= hi."""
        first = self.ceil(lo)
        last = hi - length
        if last < first:
            return range(0)
        return range(first, last + 1, self.step)
