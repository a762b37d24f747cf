"""Frozen views the card builders render, and the card errors."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_OPTIONS = 3
MAX_CHOICES = 10
RISK_LEVELS = frozenset({"low", "medium", "high"})
DECISIONS = frozenset({"propose", "ask_user", "notify_only"})


class CardErrorCode(StrEnum):
    INVALID_VIEW = "invalid_view"
    CARD_TOO_LARGE = "card_too_large"


class CardError(Exception):
    """A card cannot be built from the view (a programming error, not user input)."""

    def __init__(self, code: CardErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def _invalid(message: str) -> CardError:
    return CardError(CardErrorCode.INVALID_VIEW, message)


def _check_common(locale: str, timezone: str, expires_at: datetime | None) -> None:
    if locale not in ("zh", "en"):
        raise _invalid(f"locale must be zh or en, got {locale!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise _invalid(f"unknown time zone {timezone!r}") from exc
    if expires_at is not None and expires_at.tzinfo is None:
        raise _invalid("expires_at must be timezone-aware")


@dataclass(frozen=True)
class CardOption:
    """One change candidate as the card shows it. `label` may be empty: the type's name is used."""

    candidate_id: str
    label: str
    summary: str  # one line, e.g. "Add 实验报告 14:00-15:30"
    before: str  # the affected part of the day before the change (lines)
    after: str  # ... and after
    risk_level: str = "low"
    type: str = "place_task"

    def __post_init__(self) -> None:
        if not self.candidate_id:
            raise _invalid("candidate_id is empty")
        if self.risk_level not in RISK_LEVELS:
            raise _invalid(f"risk_level must be low, medium or high, got {self.risk_level!r}")


@dataclass(frozen=True)
class CardChoice:
    """One answer to an ask_user question (e.g. a block id and "14:00-15:00 实验报告")."""

    choice_id: str
    label: str


@dataclass(frozen=True)
class PreviewCard:
    """A preview: `propose` (options with Apply buttons), `ask_user` (choices), `notify_only` (warning)."""

    preview_id: str
    locale: str
    timezone: str
    title: str  # the task's title (user data)
    decision: str
    explanation: str
    expires_at: datetime
    options: tuple[CardOption, ...] = ()
    chosen_id: str | None = None
    question: str = ""
    choices: tuple[CardChoice, ...] = ()
    risk_level: str = "low"
    summary: str = ""  # the chat-list preview line (notification_summary)
    busy_age_minutes: int | None = None  # planned on Feishu busy time this old (None: fresh or not read)
    late: bool = False  # no option meets the deadline: say so first, offer the late actions
    deadline: datetime | None = None  # the task's deadline (shown when late)

    def __post_init__(self) -> None:
        _check_common(self.locale, self.timezone, self.expires_at)
        if self.deadline is not None and self.deadline.tzinfo is None:
            raise _invalid("deadline must be timezone-aware")
        if not self.preview_id:
            raise _invalid("preview_id is empty")
        if self.decision not in DECISIONS:
            raise _invalid(f"decision must be one of {sorted(DECISIONS)}, got {self.decision!r}")
        if self.risk_level not in RISK_LEVELS:
            raise _invalid(f"risk_level must be low, medium or high, got {self.risk_level!r}")
        if len(self.options) > MAX_OPTIONS:
            raise _invalid(f"at most {MAX_OPTIONS} options, got {len(self.options)}")
        ids = [o.candidate_id for o in self.options]
        if len(set(ids)) != len(ids):
            raise _invalid("option candidate ids repeat")
        if self.decision == "propose":
            if not self.options:
                raise _invalid("a propose card needs 1 to 3 options")
            if self.chosen_id not in ids:
                raise _invalid(f"chosen_id {self.chosen_id!r} is not among the options")
        if self.decision == "ask_user" and not 1 <= len(self.choices) <= MAX_CHOICES:
            raise _invalid(f"an ask_user card needs 1 to {MAX_CHOICES} choices")
        choice_ids = [c.choice_id for c in self.choices]
        if len(set(choice_ids)) != len(choice_ids) or not all(choice_ids):
            raise _invalid("choice ids must be non-empty and distinct")

    def ordered_options(self) -> tuple[CardOption, ...]:
        """The chosen option first, the rest in their given order."""
        chosen = [o for o in self.options if o.candidate_id == self.chosen_id]
        return (*chosen, *(o for o in self.options if o.candidate_id != self.chosen_id))

    def option(self, candidate_id: str | None) -> CardOption | None:
        return next((o for o in self.options if o.candidate_id == candidate_id), None)


@dataclass(frozen=True)
class NotifyOnlyCard:
    """An honest warning: nothing feasible to propose (e.g. the deadline cannot be met in 24 h)."""

    preview_id: str
    locale: str
    timezone: str
    title: str
    warning: str
    details: tuple[str, ...] = ()
    risk_level: str = "high"
    summary: str = ""
    late: bool = False  # the deadline cannot be met: offer moving it, asking again later, dropping the task
    deadline: datetime | None = None

    def __post_init__(self) -> None:
        _check_common(self.locale, self.timezone, None)
        if self.risk_level not in RISK_LEVELS:
            raise _invalid(f"risk_level must be low, medium or high, got {self.risk_level!r}")


@dataclass(frozen=True)
class AppliedCard:
    preview: PreviewCard
    candidate_id: str | None = None  # the option that was applied
    changes: tuple[str, ...] = ()  # what changed, one line each
    undo_until: datetime | None = None  # None: no Undo button

    def __post_init__(self) -> None:
        if self.undo_until is not None and self.undo_until.tzinfo is None:
            raise _invalid("undo_until must be timezone-aware")


@dataclass(frozen=True)
class IgnoredCard:
    preview: PreviewCard


@dataclass(frozen=True)
class ChosenCard:
    """An ask_user card once answered: what was picked, no buttons left."""

    preview: PreviewCard
    label: str


@dataclass(frozen=True)
class ActedCard:
    """A late card closed by one of its actions: `action` deadline | snooze | drop, `at` the new deadline
    or when the question comes back."""

    preview: PreviewCard
    action: str
    at: datetime | None = None

    def __post_init__(self) -> None:
        if self.action not in ("deadline", "snooze", "drop"):
            raise _invalid(f"unknown task action {self.action!r}")
        if self.at is not None and self.at.tzinfo is None:
            raise _invalid("at must be timezone-aware")


@dataclass(frozen=True)
class ExpiredCard:
    preview: PreviewCard


@dataclass(frozen=True)
class UndoneCard:
    preview: PreviewCard
    changes: tuple[str, ...] = ()  # what was reverted


@dataclass(frozen=True)
class ErrorCard:
    """The error in words; `message` empty means the standard sentence for `code`."""

    locale: str
    code: str
    message: str = ""
    title: str = ""  # the task's title, if known

    def __post_init__(self) -> None:
        if self.locale not in ("zh", "en"):
            raise _invalid(f"locale must be zh or en, got {self.locale!r}")
