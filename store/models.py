"""SQLAlchemy models for every stored concept; relationships are lazy="raise" (load explicitly)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy import true as sa_true
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from store import enums as e
from store.types import ID_LENGTH, KEY_LENGTH, UTCDateTime, new_id

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
# Binary collation: Feishu ids and dedupe keys are case-sensitive, so "ou_A" and "ou_a" must not collide.
MYSQL_TABLE = {"mysql_engine": "InnoDB", "mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin"}
HHMM = 5  # "HH:MM"
FEISHU_GUID = 64  # a Feishu task guid (a UUID, 36 characters)
REF = 64  # external references: candidate ids, trace ids, codes
MSG = 128  # Feishu message / open ids
CALENDAR_ID = 255  # Feishu calendar and event ids ("feishu.cn_xxx@group.calendar.feishu.cn", "<uuid>_0")


# Every foreign key has a many-to-one relationship with lazy="raise": never loaded implicitly (which would be
# I/O hidden in attribute access), but it tells the unit of work to insert parents before children.


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        bool: Boolean(),
        int: Integer(),
    }

    def __init__(self, **kwargs: Any) -> None:
        # Apply Python-side column defaults (id, status, version, ...) at construction rather than at flush,
        # so a new row's id can be used at once (to link rows before the unit of work flushes).
        for column in self.__table__.columns:
            default = column.default
            if default is None or kwargs.get(column.key) is not None:
                continue
            if default.is_scalar:
                kwargs[column.key] = default.arg
            elif default.is_callable:
                kwargs[column.key] = default.arg(None)
        cls = type(self)
        for key, value in kwargs.items():
            # The same check SQLAlchemy's default constructor makes: only mapped attributes are accepted.
            if not hasattr(cls, key):
                raise TypeError(f"{key!r} is an invalid keyword argument for {cls.__name__}")
            setattr(self, key, value)


def one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    allowed = ", ".join(f"'{v.value}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


def _id() -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)


def _fk(target: str, *, nullable: bool = False, ondelete: str = "CASCADE") -> Mapped[Any]:
    return mapped_column(String(ID_LENGTH), ForeignKey(target, ondelete=ondelete), nullable=nullable)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (one_of("locale", e.Locale), one_of("role", e.Role), MYSQL_TABLE)

    id: Mapped[str] = _id()
    open_id: Mapped[str] = mapped_column(String(MSG), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8), default=e.Locale.ZH)
    day_start: Mapped[str] = mapped_column(String(HHMM), default="08:00")
    day_end: Mapped[str] = mapped_column(String(HHMM), default="22:30")
    quiet_start: Mapped[str | None] = mapped_column(String(HHMM))
    quiet_end: Mapped[str | None] = mapped_column(String(HHMM))
    daily_card_cap: Mapped[int] = mapped_column(default=8)
    role: Mapped[str] = mapped_column(String(8), default=e.Role.USER)
    # Bumped in the same transaction as any change to this user's blocks, fixed events, busy time or day
    # extensions: a preview's schedule is current while this number is unchanged.
    schedule_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # Planning limits the user set with /prefs (the planner's defaults until then).
    buffer_minutes: Mapped[int] = mapped_column(default=0, server_default="0")  # kept free after a meeting
    max_moves_per_day: Mapped[int] = mapped_column(default=2, server_default="2")  # existing blocks moved
    max_planned_minutes: Mapped[int] = mapped_column(default=480, server_default="480")  # a day's work
    max_extension_minutes: Mapped[int] = mapped_column(default=90, server_default="90")  # a longer day
    late_work: Mapped[bool] = mapped_column(default=False, server_default=sa_false())  # past midnight
    # Learned from "unfinished" reports (1.0-2.0); new time for a task is planned as its estimate times this
    # while learn_overrun is on (/prefs learn on|off).
    overrun_factor: Mapped[float] = mapped_column(Float, default=1.0, server_default="1")
    learn_overrun: Mapped[bool] = mapped_column(default=True, server_default=sa_true())
    # Learned from applied options: local hour ("0"-"23") -> how often new or moved time there was accepted
    # (decayed); the most accepted hours become the planner's preferred hours while learning is on.
    accepted_hours: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DayExtension(Base):
    """One local day whose day window end was moved later by an apply."""

    __tablename__ = "day_extensions"
    __table_args__ = (UniqueConstraint("user_id", "day"), MYSQL_TABLE)

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("users.id")
    day: Mapped[date]
    day_end: Mapped[str] = mapped_column(String(HHMM))
    created_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        CheckConstraint("quadrant BETWEEN 1 AND 4", name="quadrant"),
        one_of("status", e.TaskStatus),
        Index(None, "user_id", "feishu_task_guid", unique=True),  # one task per Feishu task of a user
        MYSQL_TABLE,
    )

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("users.id")
    key: Mapped[str | None] = mapped_column(String(MSG))
    title: Mapped[str] = mapped_column(String(255))
    quadrant: Mapped[int] = mapped_column(SmallInteger)
    estimate_minutes: Mapped[int]
    deadline: Mapped[datetime | None]
    urgency_threshold_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default=e.TaskStatus.OPEN)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Synced from Feishu Tasks (scheduler.services.tasksync): the Feishu task's guid, when it was last read,
    # and the title and deadline it had then (a field that differs from these was edited here since).
    feishu_task_guid: Mapped[str | None] = mapped_column(String(FEISHU_GUID))
    feishu_synced_at: Mapped[datetime | None]
    feishu_title: Mapped[str | None] = mapped_column(String(255))
    feishu_deadline: Mapped[datetime | None]
    user: Mapped[User] = relationship(lazy="raise")


class FixedEvent(Base):
    """One-off (start, end) or weekly (weekday 1..7 ISO, local times, optional date range)."""

    __tablename__ = "fixed_events"
    __table_args__ = (UniqueConstraint("user_id", "key"), MYSQL_TABLE)

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("users.id")
    key: Mapped[str | None] = mapped_column(String(MSG))
    title: Mapped[str] = mapped_column(String(255))
    start: Mapped[datetime | None]
    end: Mapped[datetime | None]
    weekday: Mapped[int | None] = mapped_column(SmallInteger)
    local_start: Mapped[str | None] = mapped_column(String(HHMM))
    local_end: Mapped[str | None] = mapped_column(String(HHMM))
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")


class Block(Base):
    __tablename__ = "blocks"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index(None, "user_id", "start"),
        Index(None, "task_id"),  # the due scan's "has a block soon" and the cascade from tasks
        one_of("source", e.BlockSource),
        MYSQL_TABLE,
    )

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("users.id")
    task_id: Mapped[str] = _fk("tasks.id")
    key: Mapped[str | None] = mapped_column(String(MSG))
    start: Mapped[datetime]
    end: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(16), default=e.BlockSource.USER)
    makeup_for: Mapped[str | None] = _fk("blocks.id", nullable=True, ondelete="SET NULL")
    locked: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    # The event this block was written as on the user's connected Feishu calendar (None: not written).
    calendar_id: Mapped[str | None] = mapped_column(String(CALENDAR_ID))
    calendar_event_id: Mapped[str | None] = mapped_column(String(CALENDAR_ID))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")
    task: Mapped[Task] = relationship(lazy="raise")
    makeup_block: Mapped[Block | None] = relationship(lazy="raise", remote_side="Block.id")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index(None, "status", "trigger_at"), one_of("status", e.JobStatus), MYSQL_TABLE)

    id: Mapped[str] = _id()
    task_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("tasks.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[str] = _fk("users.id")
    trigger_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=e.JobStatus.PENDING)
    claimed_by: Mapped[str | None] = mapped_column(String(REF))
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Why a job was skipped or canceled (store.enums.JobReason), shown to operators.
    reason: Mapped[str | None] = mapped_column(String(32))
    trigger_id: Mapped[str | None] = _fk("triggers.id", nullable=True, ondelete="SET NULL")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")
    task: Mapped[Task] = relationship(lazy="raise")
    trigger: Mapped[Trigger | None] = relationship(lazy="raise")


class Trigger(Base):
    """One attempt to run the pipeline; dedupe_key is released (NULL) once the trigger is final."""

    __tablename__ = "triggers"
    __table_args__ = (
        one_of("type", e.TriggerType),
        one_of("status", e.TriggerStatus),
        Index(None, "status", "updated_at"),  # lease recovery looks for triggers left behind
        MYSQL_TABLE,
    )

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("users.id")
    type: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = _fk("tasks.id", nullable=True, ondelete="SET NULL")
    block_id: Mapped[str | None] = _fk("blocks.id", nullable=True, ondelete="SET NULL")
    status: Mapped[str] = mapped_column(String(32), default=e.TriggerStatus.PENDING)
    dedupe_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), unique=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), unique=True)
    source_message_id: Mapped[str | None] = mapped_column(String(MSG), unique=True)
    mocked_now: Mapped[datetime | None]
    effective_now: Mapped[datetime]
    remaining_minutes: Mapped[int | None]
    # feedback naming several tasks: the blocks it may mean (the ask_user card offers them)
    choices: Mapped[Any | None] = mapped_column(JSON)
    user_text: Mapped[str | None] = mapped_column(Text)
    trace_id: Mapped[str | None] = mapped_column(String(REF))
    error_code: Mapped[str | None] = mapped_column(String(REF))
    error_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")
    task: Mapped[Task | None] = relationship(lazy="raise")
    block: Mapped[Block | None] = relationship(lazy="raise")


class Preview(Base):
    __tablename__ = "previews"
    __table_args__ = (
        one_of("status", e.PreviewStatus),
        one_of("apply_status", e.ApplyStatus),
        Index(None, "status", "expires_at"),
        MYSQL_TABLE,
    )

    id: Mapped[str] = _id()
    trigger_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("triggers.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[str] = _fk("users.id")
    task_id: Mapped[str | None] = _fk("tasks.id", nullable=True, ondelete="SET NULL")
    status: Mapped[str] = mapped_column(String(16), default=e.PreviewStatus.READY)
    decision: Mapped[str] = mapped_column(String(REF))
    candidates: Mapped[Any] = mapped_column(JSON(none_as_null=True))
    chosen_candidate_id: Mapped[str | None] = mapped_column(String(REF))
    metrics: Mapped[Any] = mapped_column(JSON(none_as_null=True))
    issues: Mapped[Any] = mapped_column(JSON(none_as_null=True))
    explanation: Mapped[str | None] = mapped_column(Text)
    notification_summary: Mapped[str | None] = mapped_column(Text)
    ask_user_question: Mapped[str | None] = mapped_column(Text)
    before_summary: Mapped[str | None] = mapped_column(Text)
    after_summary: Mapped[str | None] = mapped_column(Text)
    choice_source: Mapped[str | None] = mapped_column(String(16))
    fallback_reason: Mapped[str | None] = mapped_column(String(255))
    llm_model: Mapped[str | None] = mapped_column(String(MSG))
    llm_latency_ms: Mapped[int | None]
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    base_version: Mapped[str] = mapped_column(String(REF))
    # The user's schedule_version the candidates were planned on (read before the context, in the same
    # transaction); None for previews planned before it existed (apply then recomputes base_version).
    schedule_version: Mapped[int | None]
    # When the Feishu busy time the candidates avoided was read (None: no calendar was consulted).
    busy_read_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    apply_status: Mapped[str] = mapped_column(String(16), default=e.ApplyStatus.NONE)
    apply_candidate_id: Mapped[str | None] = mapped_column(String(REF))
    apply_idempotency_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), unique=True)
    apply_request_hash: Mapped[str | None] = mapped_column(String(REF))
    apply_result: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    apply_error: Mapped[str | None] = mapped_column(Text)
    applied_at: Mapped[datetime | None]
    # No foreign key: change_sets.preview_id already points back, and a cycle would need ALTERs.
    change_set_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    card_message_id: Mapped[str | None] = mapped_column(String(MSG))
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")
    task: Mapped[Task | None] = relationship(lazy="raise")
    trigger: Mapped[Trigger] = relationship(lazy="raise")


class ChangeSet(Base):
    """What one apply wrote (inserted, moved, resized blocks; day extensions), with before and after."""

    __tablename__ = "change_sets"
    __table_args__ = (MYSQL_TABLE,)

    id: Mapped[str] = _id()
    preview_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("previews.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[str] = _fk("users.id")
    candidate_id: Mapped[str] = mapped_column(String(REF))
    changes: Mapped[Any] = mapped_column(JSON(none_as_null=True))
    applied_at: Mapped[datetime]
    undone_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")
    preview: Mapped[Preview] = relationship(lazy="raise")


class Notification(Base):
    __tablename__ = "notifications"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        one_of("kind", e.NotificationKind),
        one_of("status", e.NotificationStatus),
        MYSQL_TABLE,
    )

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("users.id")
    preview_id: Mapped[str | None] = _fk("previews.id", nullable=True, ondelete="SET NULL")
    kind: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=e.NotificationStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(REF))
    claimed_until: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(MSG))
    last_error_code: Mapped[str | None] = mapped_column(String(REF))
    last_error: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[Any] = mapped_column(JSON(none_as_null=True))
    sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")
    preview: Mapped[Preview | None] = relationship(lazy="raise")


class OutboxMessage(Base):
    __tablename__ = "outbox"
    __table_args__ = (Index(None, "status", "available_at"), one_of("status", e.OutboxStatus), MYSQL_TABLE)

    id: Mapped[str] = _id()
    topic: Mapped[str] = mapped_column(String(REF))
    payload: Mapped[Any] = mapped_column(JSON(none_as_null=True))
    status: Mapped[str] = mapped_column(String(16), default=e.OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    available_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(REF))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class InboxEntry(Base):
    """Every inbound Feishu event / message / click key, so a redelivery does nothing twice."""

    __tablename__ = "inbox"
    __table_args__ = (
        Index(None, "kind", "status", "claimed_until"),  # presses recorded but not finished
        one_of("kind", e.InboxKind),
        one_of("status", e.InboxStatus),
        MYSQL_TABLE,
    )

    id: Mapped[str] = _id()
    kind: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    event_type: Mapped[str | None] = mapped_column(String(MSG))
    status: Mapped[str] = mapped_column(String(16), default=e.InboxStatus.RECEIVED)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # A card press: what was pressed, by whom, and the card's delayed-update token, so the press can be
    # finished (and its card updated) after the answer, by this process or, after the lease, by a worker.
    payload: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    claimed_by: Mapped[str | None] = mapped_column(String(REF))
    claimed_until: Mapped[datetime | None]


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "created_at"), MYSQL_TABLE)

    id: Mapped[str] = _id()
    actor: Mapped[str] = mapped_column(String(MSG))
    action: Mapped[str] = mapped_column(String(REF))
    target: Mapped[str | None] = mapped_column(String(255))
    detail: Mapped[Any | None] = mapped_column(JSON(none_as_null=True))
    outcome: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]


class BusyTime(Base):
    """One busy interval of a user's Feishu calendar, as last read: untitled from free/busy (no login), or
    titled from the user's connected calendar. Replaced as a whole by each read (see CalendarRead)."""

    __tablename__ = "busy_times"
    __table_args__ = (Index(None, "user_id", "start"), MYSQL_TABLE)

    id: Mapped[str] = _id()
    user_id: Mapped[str] = _fk("users.id")
    start: Mapped[datetime]
    end: Mapped[datetime]
    title: Mapped[str | None] = mapped_column(String(255))
    event_id: Mapped[str | None] = mapped_column(String(CALENDAR_ID))
    user: Mapped[User] = relationship(lazy="raise")


class CalendarRead(Base):
    """When a user's busy time was last read from Feishu, over which window, and the last failure."""

    __tablename__ = "calendar_reads"
    __table_args__ = (MYSQL_TABLE,)

    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    read_at: Mapped[datetime | None]
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    source: Mapped[str | None] = mapped_column(String(16))  # "freebusy" or "calendar"
    failed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(255))
    user: Mapped[User] = relationship(lazy="raise")


class CalendarConnection(Base):
    """A user's authorization of their own Feishu calendar (OAuth user tokens, Fernet-encrypted at rest)."""

    __tablename__ = "calendar_connections"
    __table_args__ = (one_of("status", e.ConnectionStatus), MYSQL_TABLE)

    user_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), default=e.ConnectionStatus.CONNECTED)
    scope: Mapped[str] = mapped_column(Text, default="")
    access_token: Mapped[str | None] = mapped_column(Text)  # ciphertext
    access_expires_at: Mapped[datetime | None]
    refresh_token: Mapped[str | None] = mapped_column(Text)  # ciphertext
    refresh_expires_at: Mapped[datetime | None]
    calendar_id: Mapped[str | None] = mapped_column(String(CALENDAR_ID))
    subscribed_at: Mapped[datetime | None]
    broken_at: Mapped[datetime | None]
    broken_notified_at: Mapped[datetime | None]
    tasks_synced_at: Mapped[datetime | None]  # the last Feishu Tasks sync claimed for the user (any worker)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")


class OAuthState(Base):
    """A `state` issued with an authorization link: bound to one user, expires, works once."""

    __tablename__ = "oauth_states"
    __table_args__ = (MYSQL_TABLE,)

    nonce: Mapped[str] = mapped_column(String(REF), primary_key=True)
    user_id: Mapped[str] = _fk("users.id")
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    user: Mapped[User] = relationship(lazy="raise")


SEND_BUCKET = 200


class SendSlot(Base):
    """One of a send limit's slots (`limit` rows per bucket), shared by every process on the database.

    A slot is free once `free_at` has passed. Taking it writes a `holder` and a lease as `free_at`
    (a crashed sender frees it when the lease ends); releasing it clears the holder and sets `free_at` to
    the end of the call plus the window, so no window at Feishu ever sees more than `limit` calls."""

    __tablename__ = "send_slots"
    __table_args__ = (Index(None, "bucket", "free_at"), MYSQL_TABLE)

    bucket: Mapped[str] = mapped_column(String(SEND_BUCKET), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    free_at: Mapped[datetime]
    holder: Mapped[str | None] = mapped_column(String(ID_LENGTH))
