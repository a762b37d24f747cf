"""The exact shape of an import file (pydantic, extra fields forbidden); cross-record rules live in checks."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from store import column_length
from store.models import Base, Block, FixedEvent, Task, User


def _clock(value: object, *, allow_24: bool) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError('must be a quoted "HH:MM" string')  # noqa: TRY004 - pydantic wants ValueError
    parts = value.split(":")
    if len(parts) != 2 or not all(p.isdigit() and len(p) == 2 for p in parts):
        raise ValueError(f'must be "HH:MM", got {value!r}')
    h, m = int(parts[0]), int(parts[1])
    if allow_24 and (h, m) == (24, 0):
        return time(0, 0)  # midnight at the end of the day, as in planning.model.UserPrefs
    if not (0 <= h <= 23 and 0 <= m <= 59):
        raise ValueError(f'must be "HH:MM" between 00:00 and 23:59, got {value!r}')
    return time(h, m)


def _clock_time(value: object) -> time:
    return _clock(value, allow_24=False)


def _day_end(value: object) -> time:
    return _clock(value, allow_24=True)


# Instants a schedule can mean: far enough from datetime's limits that time-zone arithmetic cannot overflow.
FIRST_YEAR, LAST_YEAR = 1970, 2200


def _instant(value: object) -> datetime:
    # YAML gives datetime objects for unquoted timestamps; JSON gives strings. Numbers are not instants.
    if isinstance(value, datetime):
        parsed = value
    elif not isinstance(value, str):
        raise ValueError("must be an ISO 8601 date-time, e.g. 2026-11-30T08:00:00+08:00")  # noqa: TRY004
    else:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"not an ISO 8601 date-time: {value!r}") from exc
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise ValueError(f"year {parsed.year} is out of range ({FIRST_YEAR}..{LAST_YEAR})")
    return parsed


def _day(value: object) -> date:
    if isinstance(value, datetime):
        raise ValueError("must be a date (YYYY-MM-DD), not a date-time")  # noqa: TRY004
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a date, YYYY-MM-DD")  # noqa: TRY004
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"not a date (YYYY-MM-DD): {value!r}") from exc


def _timezone(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be an IANA time zone name, e.g. Asia/Shanghai")  # noqa: TRY004
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


ClockTime = Annotated[time, BeforeValidator(_clock_time)]
DayEnd = Annotated[time, BeforeValidator(_day_end)]
Instant = Annotated[datetime, BeforeValidator(_instant)]
Day = Annotated[date, BeforeValidator(_day)]


def _text(model: type[Base], column: str) -> object:
    return Field(min_length=1, max_length=column_length(model, column))


OpenId = Annotated[StrictStr, _text(User, "open_id")]
UserName = Annotated[StrictStr, _text(User, "name")]
EventTitle = Annotated[StrictStr, _text(FixedEvent, "title")]
EventKey = Annotated[StrictStr, _text(FixedEvent, "key")]
TaskTitle = Annotated[StrictStr, _text(Task, "title")]
TaskKey = Annotated[StrictStr, _text(Task, "key")]
BlockKey = Annotated[StrictStr, _text(Block, "key")]
TimeZoneName = Annotated[str, BeforeValidator(_timezone), Field(max_length=column_length(User, "timezone"))]


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class UserIn(Record):
    """A user; omitted fields take the defaults from settings (time zone, locale, day window)."""

    open_id: OpenId
    name: UserName | None = None  # default: the open_id
    timezone: TimeZoneName | None = None
    locale: Literal["zh", "en"] | None = None
    day_start: ClockTime | None = None
    day_end: DayEnd | None = None
    admin: StrictBool = False


class WeeklyIn(Record):
    weekday: Annotated[StrictInt, Field(ge=1, le=7)]  # ISO: 1 Monday .. 7 Sunday
    start: ClockTime
    end: ClockTime


class FixedEventIn(Record):
    """One-off (`start`/`end`) or weekly (`weekly` with optional `from`/`until`); exactly one form."""

    user: OpenId
    title: EventTitle
    key: EventKey | None = None
    start: Instant | None = None
    end: Instant | None = None
    weekly: WeeklyIn | None = None
    valid_from: Day | None = Field(default=None, alias="from")
    valid_until: Day | None = Field(default=None, alias="until")


class TaskIn(Record):
    """A task; quadrant defaults to 2 (important, not urgent) and status to open."""

    user: OpenId
    key: TaskKey
    title: TaskTitle
    quadrant: Annotated[StrictInt, Field(ge=1, le=4)] = 2
    estimate_minutes: Annotated[StrictInt, Field(ge=5, le=480)]
    deadline: Instant | None = None
    urgency_threshold_at: Instant | None = None
    status: Literal["open", "done", "canceled"] = "open"


class BlockIn(Record):
    """A planned block of a task (referred to by the task's key); its source is `import`."""

    user: OpenId
    task: TaskKey
    start: Instant
    end: Instant
    locked: StrictBool = False
    key: BlockKey | None = None


class ImportFile(Record):
    users: list[UserIn] = Field(default_factory=list)
    fixed_events: list[FixedEventIn] = Field(default_factory=list)
    tasks: list[TaskIn] = Field(default_factory=list)
    blocks: list[BlockIn] = Field(default_factory=list)


SECTIONS = ("users", "fixed_events", "tasks", "blocks")
