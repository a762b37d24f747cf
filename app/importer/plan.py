"""Normalized import records: defaults applied, instants in UTC, identities for idempotent upserts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

# An identity says which stored row a file record is: ("key", key), or for records without a key
# ("oneoff", title, start) / ("weekly", title, weekday, local start) for events and ("task", key, start)
# for blocks. Re-importing a record with the same identity updates that row instead of adding one.
Identity = tuple[str | int | datetime | time, ...]


@dataclass(frozen=True)
class Defaults:
    """Values for omitted user fields (from settings)."""

    timezone: str = "Asia/Shanghai"
    locale: str = "zh"
    day_start: time = time(8, 0)
    day_end: time = time(22, 30)


@dataclass(frozen=True)
class UserRow:
    open_id: str
    name: str
    timezone: str
    locale: str
    day_start: time
    day_end: time
    admin: bool


@dataclass(frozen=True)
class EventRow:
    user: str
    identity: Identity
    key: str | None
    title: str
    start: datetime | None = None  # one-off, UTC
    end: datetime | None = None
    weekday: int | None = None  # weekly, local wall-clock times
    local_start: time | None = None
    local_end: time | None = None
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class TaskRow:
    user: str
    key: str
    title: str
    quadrant: int
    estimate_minutes: int
    deadline: datetime | None
    urgency_threshold_at: datetime | None
    status: str


@dataclass(frozen=True)
class BlockRow:
    user: str
    identity: Identity
    key: str | None
    task_key: str
    start: datetime
    end: datetime
    locked: bool


@dataclass(frozen=True)
class Existing:
    """What the database already holds for the users a file mentions (enough to check references/overlaps)."""

    user_timezones: Mapping[str, str] = field(default_factory=dict)
    task_keys: frozenset[tuple[str, str]] = frozenset()  # (open_id, key)
    events: Mapping[str, tuple[EventRow, ...]] = field(default_factory=dict)  # by open_id
    blocks: Mapping[str, tuple[BlockRow, ...]] = field(default_factory=dict)  # by open_id


@dataclass(frozen=True)
class ImportPlan:
    """A fully validated file, ready to be written."""

    users: tuple[UserRow, ...] = ()
    events: tuple[EventRow, ...] = ()
    tasks: tuple[TaskRow, ...] = ()
    blocks: tuple[BlockRow, ...] = ()

    @property
    def open_ids(self) -> frozenset[str]:
        return frozenset(
            [u.open_id for u in self.users]
            + [e.user for e in self.events]
            + [t.user for t in self.tasks]
            + [b.user for b in self.blocks]
        )


def wall_clock_problem(value: datetime, tz: str) -> str | None:
    """Why a naive wall-clock time cannot name one instant in `tz` (a daylight-saving gap or overlap)."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return None
    zone = ZoneInfo(tz)
    first, second = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    shown = f"{value:%Y-%m-%d %H:%M}"
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
        return f"{shown} does not exist in {tz} (the clocks skip it); give the time with an offset"
    return f"{shown} happens twice in {tz} (the clocks go back); give the time with an offset"


def to_utc(value: datetime, tz: str) -> datetime:
    """An aware UTC instant; a naive value is a wall-clock time in `tz`."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.astimezone(UTC)


def event_identity(
    key: str | None, title: str, start: datetime | None, weekday: int | None, local_start: time | None
) -> Identity:
    if key is not None:
        return ("key", key)
    if weekday is not None and local_start is not None:
        return ("weekly", title, weekday, local_start)
    assert start is not None  # one-off events always have a start once checked
    return ("oneoff", title, start.astimezone(UTC))


def block_identity(key: str | None, task_key: str, start: datetime) -> Identity:
    if key is not None:
        return ("key", key)
    return ("task", task_key, start.astimezone(UTC))
