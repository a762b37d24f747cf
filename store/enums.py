"""The closed value sets of the store's string columns (stored as plain strings, checked by the database)."""

from __future__ import annotations

from enum import StrEnum


class Locale(StrEnum):
    ZH = "zh"
    EN = "en"


class Role(StrEnum):
    USER = "user"
    ADMIN = "admin"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELED = "canceled"


class BlockSource(StrEnum):
    USER = "user"
    IMPORT = "import"
    ASSISTANT = "assistant"


class JobStatus(StrEnum):
    PENDING = "pending"
    TRIGGERED = "triggered"
    CANCELED = "canceled"
    SKIPPED = "skipped"
    FAILED = "failed"


class JobReason(StrEnum):
    """Why a job was skipped or canceled."""

    TASK_MISSING = "task_missing"
    TASK_DONE = "task_done"
    TASK_CANCELED = "task_canceled"
    NO_THRESHOLD = "no_threshold"
    NOT_IMPORTANT = "not_important"
    ALREADY_SCHEDULED = "already_scheduled"
    ALREADY_PLANNED = "already_planned"
    TASK_DELETED = "task_deleted"


class TriggerType(StrEnum):
    WORKER_DUE_JOB = "worker_due_job"
    ADMIN_TRIGGER = "admin_trigger"
    DRY_RUN = "dry_run"
    USER_FEEDBACK = "user_feedback"
    CALENDAR_CONFLICT = "calendar_conflict"  # a calendar event now overlaps a planned block


class TriggerStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    PREVIEW_GENERATED = "preview_generated"
    CLOSED = "closed"
    REJECTED = "rejected"
    FAILED = "failed"


# Reaching one of these releases the trigger's dedupe_key (set to NULL) so a new trigger may take it.
TRIGGER_FINAL = frozenset({TriggerStatus.CLOSED, TriggerStatus.REJECTED, TriggerStatus.FAILED})


class PreviewStatus(StrEnum):
    READY = "ready"
    APPLIED = "applied"
    IGNORED = "ignored"
    EXPIRED = "expired"
    FAILED = "failed"


class ApplyStatus(StrEnum):
    NONE = "none"
    APPLYING = "applying"
    APPLIED = "applied"
    FAILED = "failed"
    REJECTED = "rejected"


class ChoiceSource(StrEnum):
    LLM = "llm"
    FALLBACK = "fallback"


class NotificationKind(StrEnum):
    CARD = "card"
    CARD_UPDATE = "card_update"
    TEXT = "text"
    ANSWER = "answer"  # the bot's answer to a chat message: text, or a card with its text as the fallback
    EFFECT = "effect"  # a call to Feishu a committed change asks for (a calendar event, a task completed)


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"
    DEFERRED = "deferred"


class OutboxStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    DEAD = "dead"


class InboxKind(StrEnum):
    EVENT = "event"
    MESSAGE = "message"
    CLICK = "click"


class InboxStatus(StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    IGNORED = "ignored"
    FAILED = "failed"


class ConnectionStatus(StrEnum):
    CONNECTED = "connected"
    BROKEN = "broken"  # the refresh token was revoked or expired: the user must /connect again
