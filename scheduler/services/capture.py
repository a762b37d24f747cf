"""A task in plain words read by a model: the reader (llm.capture) fills a JSON schema; every field is checked
here before anything is shown (a title of 1-100 characters, an estimate of 5-480 minutes or none, a deadline
that is a real local time in the user's zone or none). The text is data: nothing in it changes these rules."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

TITLE_MAX = 100
MIN_ESTIMATE, MAX_ESTIMATE = 5, 480
_FORMAT = "%Y-%m-%d %H:%M"  # how deadlines are written to and read from the reader

NotATask = Literal["not_a_task"]
NOT_A_TASK: NotATask = "not_a_task"


@dataclass(frozen=True)
class WordsDraft:
    """What the words say about a task; None where they say nothing (or the model's value was refused)."""

    title: str
    estimate_minutes: int | None
    deadline: datetime | None
    important: bool


class TaskReader(Protocol):
    """Reads a message into the capture schema's fields; None when it cannot (no answer, bad JSON, a
    timeout): the caller then reads the words itself."""

    async def read_task(
        self, text: str, now_local: str, weekday: str, timezone: str
    ) -> Mapping[str, Any] | None: ...


def checked(answer: Mapping[str, Any] | None, now: datetime, timezone: str) -> WordsDraft | NotATask | None:
    """The reader's answer as a draft, NOT_A_TASK, or None when the answer cannot be trusted as a whole
    (a field of the wrong kind, an unreal deadline): the caller falls back to its own reading."""
    if answer is None or not isinstance(answer.get("is_task"), bool):
        return None
    if not answer["is_task"]:
        return NOT_A_TASK
    title = answer.get("title")
    if not isinstance(title, str):
        return None
    title = " ".join(title.split())
    if not 0 < len(title) <= TITLE_MAX:
        return None
    estimate = answer.get("estimate_minutes")
    if estimate is not None and (isinstance(estimate, bool) or not isinstance(estimate, int)):
        return None
    if estimate is not None and not MIN_ESTIMATE <= estimate <= MAX_ESTIMATE:
        estimate = None  # out of range (or a hostile value): asked about, never taken
    deadline = answer.get("deadline_local")
    due: datetime | None = None
    if deadline is not None:
        if not isinstance(deadline, str):
            return None
        due = _local(deadline, timezone)  # not a real local time: the field is left for the user to pick
    important = answer.get("important")
    return WordsDraft(title, estimate, due, important is True)


def now_words(now: datetime, timezone: str) -> tuple[str, str]:
    """`now` as the reader is told it: local "YYYY-MM-DD HH:MM" and the weekday's English name."""
    local = now.astimezone(ZoneInfo(timezone))
    return local.strftime(_FORMAT), local.strftime("%A")


def _local(text: str, timezone: str) -> datetime | None:
    """ "YYYY-MM-DD HH:MM" as an instant in `timezone`; None for anything else, for a date that does not
    exist and for a wall-clock time a daylight-saving change skips."""
    raw = text.strip()
    if len(raw) != len("YYYY-MM-DD HH:MM"):
        return None
    try:
        wall = datetime.fromisoformat(raw.replace(" ", "T", 1))
    except ValueError:
        return None
    if wall.tzinfo is not None:
        return None
    zone = ZoneInfo(timezone)
    due = wall.replace(tzinfo=zone)
    if due.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return due
