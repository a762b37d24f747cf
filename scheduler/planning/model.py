"""Frozen inputs and outputs of the pure planning engine (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from enum import StrEnum

# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open span [start, end) of aware datetimes."""

    start: datetime
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start).total_seconds() // 60)


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELED = "canceled"


class BlockSource(StrEnum):
    USER = "user"
    IMPORT = "import"
    ASSISTANT = "assistant"


@dataclass(frozen=True)
class UserPrefs:
    """The user's planning preferences; times are local wall-clock times in `timezone`."""

    timezone: str = "Asia/Shanghai"
    locale: str = "zh"
    day_start: time = time(8, 0)
    day_end: time = time(22, 30)  # time(0, 0) means midnight at the end of the day
    quiet_start: time | None = None  # proactive cards are deferred inside quiet hours
    quiet_end: time | None = None
    preferred: tuple[tuple[time, time], ...] = ()  # preferred working periods, local
    grid_minutes: int = 15
    max_extension_minutes: int = 90  # extend_day never ends a day later than day_end + this
    late_work: bool = False  # extend_day may run past midnight (the user allowed late work)
    max_moves_per_day: int = 2  # the assistant moves at most this many existing blocks a day
    max_planned_minutes_per_day: int = 480  # planned work beyond this in a day is overcommitment
    buffer_minutes: int = 0  # kept free after each fixed event (a meeting, a class) for new work
    # learned from "unfinished" reports (1.0-2.0): new time for a task is its remaining estimate times this
    overrun_factor: float = 1.0


@dataclass(frozen=True)
class TaskInfo:
    id: str
    title: str
    quadrant: int  # 1..4 as stored (promotion is applied by the engine for `now`)
    estimate_minutes: int
    deadline: datetime | None = None
    urgency_threshold_at: datetime | None = None
    status: TaskStatus = TaskStatus.OPEN
    key: str | None = None


@dataclass(frozen=True)
class FixedEvent:
    """One-off (`start`/`end` set) or weekly (`weekday` 1..7 ISO with local `local_start`/`local_end`)."""

    id: str
    title: str
    start: datetime | None = None
    end: datetime | None = None
    weekday: int | None = None
    local_start: time | None = None
    local_end: time | None = None
    valid_from: date | None = None
    valid_until: date | None = None


@dataclass(frozen=True)
class Block:
    id: str
    task_id: str
    start: datetime
    end: datetime
    source: BlockSource = BlockSource.USER
    locked: bool = False
    makeup_for: str | None = None


@dataclass(frozen=True)
class DayExtension:
    """The day end of one local date was extended (by an applied extend_day)."""

    day: date
    day_end: time


class TargetKind(StrEnum):
    TASK = "task"  # a due job / admin trigger: the task needs time
    UNFINISHED = "unfinished"  # the user reported a block unfinished
    CONFLICT = "conflict"  # a planned block now overlaps busy time in the user's calendar: move it


@dataclass(frozen=True)
class Target:
    kind: TargetKind
    task_id: str | None = None
    block_id: str | None = None  # the unfinished block, when resolved
    remaining_minutes: int | None = None  # said by the user
    # unresolved "unfinished" report: the blocks it could mean (an ask_user candidate offers them)
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class PlanningContext:
    now: datetime  # aware; the window is [now, now + horizon)
    user: UserPrefs
    target: Target
    tasks: tuple[TaskInfo, ...] = ()  # the target's task and the tasks of every block
    fixed_events: tuple[FixedEvent, ...] = ()
    blocks: tuple[Block, ...] = ()
    day_extensions: tuple[DayExtension, ...] = ()
    horizon_hours: int = 24
    moved_today: int = 0  # existing blocks the assistant already moved today (counts against the cap)


# --------------------------------------------------------------------------- outputs


class Decision(StrEnum):
    CLOSE = "close"
    ASK_USER = "ask_user"
    NOTIFY_ONLY = "notify_only"
    PROPOSE = "propose"


class CandidateType(StrEnum):
    PLACE_TASK = "place_task"
    SPLIT_TASK = "split_task"
    MAKEUP_BLOCK = "makeup_block"
    PUSH_SUCCESSORS = "push_successors"
    EXTEND_DAY = "extend_day"
    RUSH_MERGE = "rush_merge"
    ASK_USER = "ask_user"
    NOTIFY_ONLY = "notify_only"
    CLOSE = "close"


CHANGE_TYPES = frozenset(
    {
        CandidateType.PLACE_TASK,
        CandidateType.SPLIT_TASK,
        CandidateType.MAKEUP_BLOCK,
        CandidateType.PUSH_SUCCESSORS,
        CandidateType.EXTEND_DAY,
        CandidateType.RUSH_MERGE,
    }
)


class ChangeKind(StrEnum):
    ADD_BLOCK = "add_block"
    MOVE_BLOCK = "move_block"
    RESIZE_BLOCK = "resize_block"
    EXTEND_DAY = "extend_day"


@dataclass(frozen=True)
class Change:
    """One primitive write. add_block: task_id/start/end (makeup_for optional); move_block and
    resize_block: block_id, old_start/old_end -> start/end; extend_day: day, old_day_end -> new_day_end."""

    kind: ChangeKind
    block_id: str | None = None
    task_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    old_start: datetime | None = None
    old_end: datetime | None = None
    makeup_for: str | None = None
    day: date | None = None
    old_day_end: time | None = None
    new_day_end: time | None = None


@dataclass(frozen=True)
class Issue:
    code: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Metrics:
    free_minutes_window: int
    free_minutes_before_deadline: int
    capacity_gap_minutes: int  # needed minutes minus free time before the deadline (may be negative)
    needed_minutes: int
    target_done: bool
    target_scheduled: bool
    minutes_to_deadline: int | None
    blocks_affected: int  # blocks the top candidate moves or resizes
    effective_quadrant: int | None = None  # the target task's quadrant after promotion for `now`
    in_quiet_hours: bool = False  # `now` is inside the user's quiet hours (cards are deferred)
    longest_free_minutes: int = 0  # the longest contiguous free slot in the window


@dataclass(frozen=True)
class Observation:
    metrics: Metrics
    issues: tuple[Issue, ...]  # ranked, most important first
    decision: Decision


@dataclass(frozen=True)
class ScoreComponent:
    name: str  # e.g. meets_deadline, disruption, preference_fit, slack, earliness
    value: float
    reason: str  # a reason code whose text explains this component


@dataclass(frozen=True)
class Reason:
    code: str
    params: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Disruption:
    blocks_moved: int = 0  # blocks moved or resized
    minutes_moved: int = 0  # total shift (move) or lost length (resize)
    day_extended_minutes: int = 0  # extend_day: how much later the day ends


@dataclass(frozen=True)
class Candidate:
    id: str  # deterministic: a short hash of type + changes
    type: CandidateType
    changes: tuple[Change, ...] = ()
    score: tuple[ScoreComponent, ...] = ()
    reasons: tuple[Reason, ...] = ()
    risks: tuple[Reason, ...] = ()
    disruption: Disruption = Disruption()
    capacity_fit: str = "full"  # full | partial | none
    risk_level: str = "low"  # low | medium | high
    # ask_user: the question code and the choices (e.g. block ids) rendered as buttons
    question: Reason | None = None
    options: tuple[str, ...] = ()
    # what this option costs against the recommended one (catalog TRADEOFFS codes; () for that one).
    # Derived from the ranked set, so not part of the candidate's identity: equality ignores it.
    tradeoffs: tuple[Reason, ...] = field(default=(), compare=False)

    @property
    def is_change(self) -> bool:
        return self.type in CHANGE_TYPES

    def component(self, name: str) -> float:
        """The value of the named score component (0.0 when absent)."""
        for comp in self.score:
            if comp.name == name:
                return comp.value
        return 0.0


@dataclass(frozen=True)
class PlanResult:
    observation: Observation
    candidates: tuple[Candidate, ...]  # ranked: the first one is the deterministic choice

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None


class BusyKind(StrEnum):
    FIXED = "fixed"
    BLOCK = "block"


@dataclass(frozen=True)
class BusyItem:
    """One occupied span of the schedule: a fixed event occurrence or a block."""

    start: datetime
    end: datetime
    title: str
    kind: BusyKind
    id: str
    task_id: str | None = None
    locked: bool = False
