"""What the bot reads from the services: the store handle, the stored states it names, and plain views."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from store import Store
from store.enums import (
    InboxKind,
    InboxStatus,
    JobReason,
    Locale,
    PreviewStatus,
    Role,
    TaskStatus,
    TriggerStatus,
    TriggerType,
)
from store.models import Task, User

__all__ = [
    "InboxKind",
    "InboxStatus",
    "JobReason",
    "Locale",
    "PreviewStatus",
    "Role",
    "Store",
    "TaskStatus",
    "TaskView",
    "TriggerStatus",
    "TriggerType",
    "UserView",
    "task_view",
    "user_view",
]


@dataclass(frozen=True)
class UserView:
    """A user as a reply shows them: language, time zone, day window, quiet hours, card cap."""

    open_id: str
    name: str
    locale: str
    timezone: str
    day_start: str
    day_end: str
    quiet_start: str | None
    quiet_end: str | None
    daily_card_cap: int
    is_admin: bool  # SMARTFLOW_ADMINS (checked live) or the stored admin role
    buffer_minutes: int = 0
    max_moves_per_day: int = 2
    max_planned_minutes: int = 480
    max_extension_minutes: int = 90
    late_work: bool = False
    overrun_factor: float = 1.0
    learn_overrun: bool = True


@dataclass(frozen=True)
class TaskView:
    id: str
    key: str | None
    title: str
    quadrant: int
    estimate_minutes: int
    deadline: datetime | None
    status: str
    created_at: datetime
    updated_at: datetime


def user_view(user: User, admins: frozenset[str] = frozenset()) -> UserView:
    return UserView(
        open_id=user.open_id,
        name=user.name,
        locale=user.locale,
        timezone=user.timezone,
        day_start=user.day_start,
        day_end=user.day_end,
        quiet_start=user.quiet_start,
        quiet_end=user.quiet_end,
        daily_card_cap=user.daily_card_cap,
        is_admin=user.open_id in admins or user.role == Role.ADMIN,
        buffer_minutes=user.buffer_minutes,
        max_moves_per_day=user.max_moves_per_day,
        max_planned_minutes=user.max_planned_minutes,
        max_extension_minutes=user.max_extension_minutes,
        late_work=user.late_work,
        overrun_factor=user.overrun_factor,
        learn_overrun=user.learn_overrun,
    )


def task_view(task: Task) -> TaskView:
    return TaskView(
        id=task.id,
        key=task.key,
        title=task.title,
        quadrant=task.quadrant,
        estimate_minutes=task.estimate_minutes,
        deadline=task.deadline,
        status=task.status,
        created_at=task.created_at,
        updated_at=task.updated_at,
    )
