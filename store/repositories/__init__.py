"""Repositories: query and persist rows inside a unit of work; they never commit."""

from __future__ import annotations

from store.repositories.base import Repository, is_duplicate_key
from store.repositories.lease import claim
from store.repositories.messaging import (
    AuditRepository,
    InboxRepository,
    NotificationRepository,
    OutboxRepository,
)
from store.repositories.pipeline import (
    ChangeSetRepository,
    JobRepository,
    PreviewRepository,
    TriggerRepository,
)
from store.repositories.presses import PressRepository
from store.repositories.schedule import (
    BlockRepository,
    DayExtensionRepository,
    EventRepository,
    TaskRepository,
    UserRepository,
)

__all__ = [
    "AuditRepository",
    "BlockRepository",
    "ChangeSetRepository",
    "DayExtensionRepository",
    "EventRepository",
    "InboxRepository",
    "JobRepository",
    "NotificationRepository",
    "OutboxRepository",
    "PressRepository",
    "PreviewRepository",
    "Repository",
    "TaskRepository",
    "TriggerRepository",
    "UserRepository",
    "claim",
    "is_duplicate_key",
]
