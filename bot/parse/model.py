"""Frozen command objects produced by message parsing, and the parse error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from typing import TypeAlias

MIN_MINUTES = 5
MAX_MINUTES = 480
MAX_TITLE_CHARS = 200


class ParseErrorCode(StrEnum):
    EMPTY_TITLE = "empty_title"
    TITLE_TOO_LONG = "title_too_long"
    MISSING_MINUTES = "missing_minutes"
    MISSING_DEADLINE = "missing_deadline"
    MINUTES_OUT_OF_RANGE = "minutes_out_of_range"
    MISSING_TASK = "missing_task"
    BAD_TIME = "bad_time"
    MISSING_TIME_OF_DAY = "missing_time_of_day"
    BAD_PREFS = "bad_prefs"
    UNKNOWN_PREF = "unknown_pref"
    BAD_RANGE = "bad_range"
    BAD_LANG = "bad_lang"
    BAD_TIMEZONE = "bad_timezone"
    BAD_CAP = "bad_cap"
    MISSING_ADMIN_COMMAND = "missing_admin_command"
    UNKNOWN_ADMIN_COMMAND = "unknown_admin_command"
    MISSING_ARGUMENT = "missing_argument"
    UNEXPECTED_ARGUMENT = "unexpected_argument"
    NOTHING_TO_EDIT = "nothing_to_edit"


class ParseError(ValueError):
    """Bad user input. `message` (English) names the problem; `bot.texts.parse_error_text` localises it."""

    def __init__(
        self,
        code: ParseErrorCode,
        message: str,
        *,
        command: str | None = None,
        params: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.command = command  # the slash command being parsed ("add", "admin", ...) if any
        self.params: Mapping[str, object] = dict(params or {})


@dataclass(frozen=True)
class TimeRange:
    """A local wall-clock range; `end` before `start` wraps past midnight (quiet hours)."""

    start: time
    end: time


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Today:
    pass


@dataclass(frozen=True)
class Tasks:
    pass


@dataclass(frozen=True)
class Add:
    title: str
    minutes: int
    deadline_text: str | None = None  # resolve with parse_time_text(text, now, tz)
    important: bool = False
    again: bool = False  # a trailing "+": add it even though an open task has the same title


@dataclass(frozen=True)
class Edit:
    """`/edit <task> [minutes] [by <time>|by none] [!|-]`: change what is given, keep the rest.
    `clear_deadline`: "by none"; `important`: True ("!"), False ("-"), None (unchanged)."""

    task_ref: str
    minutes: int | None = None
    deadline_text: str | None = None
    clear_deadline: bool = False
    important: bool | None = None


@dataclass(frozen=True)
class Drop:
    """`/drop <task> [#n]`: the user gives the task up (canceled: its job and pending card go too)."""

    task_ref: str
    pick: int | None = None
    whole: str | None = None


@dataclass(frozen=True)
class Done:
    """`/done <task> [#n]`: `pick` is the n-th of several matches, numbered as the bot listed them.

    `whole` is the reference with its `#n` kept, for a title that itself ends in `#n` ("Review PR #482").
    """

    task_ref: str
    pick: int | None = None
    whole: str | None = None


@dataclass(frozen=True)
class Reopen:
    """`/undone <task> [#n]`: a task marked done by mistake becomes open again."""

    task_ref: str
    pick: int | None = None
    whole: str | None = None


@dataclass(frozen=True)
class Lock:
    """`/lock <task> [#n]` (or `/unlock`): the task's next block is never moved by the assistant."""

    task_ref: str
    pick: int | None = None
    whole: str | None = None
    unlock: bool = False


@dataclass(frozen=True)
class Unfinished:
    """`/unfinished` or free-text feedback; None means "not said" (resolve from the schedule)."""

    task_ref: str | None = None
    minutes: int | None = None
    text: str = ""  # the user's words, mentions stripped (user data for the LLM prompt)


@dataclass(frozen=True)
class Prefs:
    """`/prefs` with no settings is a query; otherwise only the given settings change."""

    day: TimeRange | None = None
    quiet: TimeRange | None = None
    quiet_off: bool = False
    lang: str | None = None  # zh | en
    timezone: str | None = None
    daily_cap: int | None = None
    buffer_minutes: int | None = None  # kept free after a meeting or class, 0-120
    max_moves: int | None = None  # existing blocks the assistant may move a day, 0-10
    max_planned_minutes: int | None = None  # the most planned work in a day (given in hours, 1-16)
    max_extension_minutes: int | None = None  # how much longer a day may get, 0-240
    late_work: bool | None = None  # a longer day may run past midnight
    learn_overrun: bool | None = None  # new estimates scaled by what "unfinished" reports taught

    @property
    def is_query(self) -> bool:
        return self == Prefs()


class AdminSub(StrEnum):
    TRIGGER = "trigger"
    DRYRUN = "dryrun"
    JOBS = "jobs"
    NOTIFICATIONS = "notifications"
    RETRY = "retry"
    STATS = "stats"


@dataclass(frozen=True)
class Admin:
    """An admin command; whether the sender may use it is the handler's decision."""

    sub: AdminSub
    user: str | None = None  # trigger/dryrun: an open_id, or "@_user_N" when mentions are kept
    task: str | None = None  # trigger/dryrun: a task id, key or title
    now_text: str | None = None  # --now <time>, resolve with parse_time_text
    dead: bool = False  # notifications --dead
    notification_id: str | None = None  # retry <id>
    args: tuple[str, ...] = field(default=())  # the raw argument tokens, for the audit record


@dataclass(frozen=True)
class Connect:
    """/connect: link the sender's own Feishu calendar (OAuth)."""


@dataclass(frozen=True)
class Disconnect:
    """/disconnect: forget the sender's calendar tokens."""


@dataclass(frozen=True)
class Unknown:
    text: str


Command: TypeAlias = (
    Help
    | Today
    | Tasks
    | Add
    | Edit
    | Done
    | Drop
    | Reopen
    | Lock
    | Unfinished
    | Prefs
    | Admin
    | Connect
    | Disconnect
    | Unknown
)
