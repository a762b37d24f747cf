"""Batched reads and writes for the due scan and the pipeline: one statement per table per batch."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import and_, bindparam, case, insert, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.enums import (
    TRIGGER_FINAL,
    JobStatus,
    NotificationStatus,
    OutboxStatus,
    TriggerStatus,
    TriggerType,
)
from store.models import (
    Base,
    Block,
    DayExtension,
    FixedEvent,
    Job,
    Notification,
    OutboxMessage,
    Preview,
    Task,
    Trigger,
    User,
)
from store.repositories.messaging import NOTIFICATION_DUE
from store.repositories.schedule import MAX_BLOCK_LENGTH  # a window query's lower bound on start

M = TypeVar("M", bound=Base)

# Planning windows this close share one range condition in a batch read (a little more is read, and filtered).
WINDOW_SLACK = timedelta(hours=1)


class BlockFacts(Protocol):
    """The columns of a block a planning context reads (a Core row: no ORM object is built)."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def task_id(self) -> str: ...
    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...
    @property
    def source(self) -> str: ...
    @property
    def locked(self) -> bool: ...
    @property
    def makeup_for(self) -> str | None: ...


class TaskFacts(Protocol):
    """The columns of a task a planning context reads."""

    @property
    def id(self) -> str: ...
    @property
    def key(self) -> str | None: ...
    @property
    def title(self) -> str: ...
    @property
    def quadrant(self) -> int: ...
    @property
    def estimate_minutes(self) -> int: ...
    @property
    def deadline(self) -> datetime | None: ...
    @property
    def urgency_threshold_at(self) -> datetime | None: ...
    @property
    def status(self) -> str: ...


class EventFacts(Protocol):
    """The columns of a fixed event a planning context reads."""

    @property
    def id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def start(self) -> datetime | None: ...
    @property
    def end(self) -> datetime | None: ...
    @property
    def weekday(self) -> int | None: ...
    @property
    def local_start(self) -> str | None: ...
    @property
    def local_end(self) -> str | None: ...
    @property
    def valid_from(self) -> date | None: ...
    @property
    def valid_until(self) -> date | None: ...


class ExtensionFacts(Protocol):
    """The columns of a day extension a planning context reads."""

    @property
    def user_id(self) -> str: ...
    @property
    def day(self) -> date: ...
    @property
    def day_end(self) -> str: ...


_BLOCK_FACTS = (
    Block.id,
    Block.user_id,
    Block.task_id,
    Block.start,
    Block.end,
    Block.source,
    Block.locked,
    Block.makeup_for,
)
_TASK_FACTS = (
    Task.id,
    Task.key,
    Task.title,
    Task.quadrant,
    Task.estimate_minutes,
    Task.deadline,
    Task.urgency_threshold_at,
    Task.status,
)
_EVENT_FACTS = (
    FixedEvent.id,
    FixedEvent.user_id,
    FixedEvent.title,
    FixedEvent.start,
    FixedEvent.end,
    FixedEvent.weekday,
    FixedEvent.local_start,
    FixedEvent.local_end,
    FixedEvent.valid_from,
    FixedEvent.valid_until,
)
_EXTENSION_FACTS = (DayExtension.user_id, DayExtension.day, DayExtension.day_end)


def transition(
    status: TriggerStatus, now: datetime, *, error_code: str | None = None, error_detail: str | None = None
) -> dict[str, Any]:
    """The column values of a trigger moving to `status` (as TriggerRepository.transition, for a batch
    UPDATE): a final status releases its dedupe_key for a new trigger."""
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status in TRIGGER_FINAL:
        values["dedupe_key"] = None
    if error_code is not None:
        values["error_code"] = error_code
    if error_detail is not None:
        values["error_detail"] = error_detail
    return values


def outbox_row(topic: str, payload: Any, now: datetime) -> dict[str, Any]:
    """A pending outbox message (as OutboxRepository.put), to insert with insert_rows."""
    return new_row(
        OutboxMessage,
        topic=topic,
        payload=payload,
        status=OutboxStatus.PENDING,
        attempts=0,
        available_at=now,
        created_at=now,
        updated_at=now,
    )


def new_row(model: type[Base], **values: Any) -> dict[str, Any]:
    """The column values of a new row of `model`, with the Python-side defaults (id, status, version, ...)
    the model's constructor would apply: for insert_rows. A plain dict, because constructing mapped
    objects costs more than the insert itself in a batch."""
    row: dict[str, Any] = {}
    for column in model.__table__.columns:
        value = values.pop(column.key, None)
        default = column.default
        if value is None and default is not None:
            value = default.arg if default.is_scalar else default.arg(None)
        row[column.key] = value
    if values:
        raise TypeError(f"{model.__name__} has no column {', '.join(sorted(values))}")
    return row


class BatchRepository:
    """Reads that load a whole batch per statement, and multi-row writes in SQLAlchemy Core."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _mysql(self) -> bool:
        return self.session.get_bind().dialect.name == "mysql"

    # ---- generic multi-row writes -------------------------------------------------------------------------
    async def insert_rows(self, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows of `model` (built with new_row: every column, ids set) in one execution:
        an executemany that the MySQL driver sends as one multi-row INSERT (SQLite runs it in one call).
        Compiled once and cached, unlike a VALUES list built per batch."""
        if not rows:
            return
        table: Any = model.__table__
        await self.session.execute(insert(table), list(rows))

    async def update_rows(self, model: type[Base], changes: Mapping[str, Mapping[str, Any]]) -> int:
        """One UPDATE for many rows: `changes` maps a row id to its new column values (a column a row does
        not name keeps its value, through CASE id WHEN ... ELSE column). The number of rows matched."""
        if not changes:
            return 0
        table: Any = model.__table__
        columns = sorted({name for values in changes.values() for name in values})
        assignments: dict[str, Any] = {}
        for name in columns:
            column = table.c[name]
            named = [values[name] for values in changes.values() if name in values]
            if len(named) == len(changes) and _all_equal(named):
                # the common case (every job of a batch skipped alike): one value, no CASE to build
                assignments[name] = _bound(named[0], column.type)
                continue
            whens = [
                (table.c.id == row_id, _bound(values[name], column.type))
                for row_id, values in changes.items()
                if name in values
            ]
            assignments[name] = case(*whens, else_=column)
        stmt = update(table).where(table.c.id.in_(list(changes))).values(assignments)
        result = await self.session.execute(stmt)
        return int(getattr(result, "rowcount", 0) or 0)

    # ---- the due scan -------------------------------------------------------------------------------------
    async def lock_due_jobs(self, now: datetime, limit: int, job_ids: Sequence[str] = ()) -> list[Job]:
        """Pending jobs due at `now` whose lease is free, locked until the transaction ends (SKIP LOCKED on
        MySQL: another worker takes the next rows instead of waiting). `job_ids` narrows it to those jobs."""
        stmt = (
            select(Job)
            .where(
                Job.status == JobStatus.PENDING,
                Job.trigger_at <= now,
                or_(Job.claimed_until.is_(None), Job.claimed_until <= now),
            )
            .order_by(Job.trigger_at, Job.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if job_ids:
            stmt = stmt.where(Job.id.in_(list(job_ids)))
        if self._mysql:
            stmt = stmt.with_for_update(skip_locked=True)
        return list((await self.session.scalars(stmt)).all())

    async def lock_tasks(self, task_ids: Iterable[str]) -> dict[str, Task]:
        """The tasks by id, locked until the transaction ends (the due scan promotes them)."""
        wanted = sorted(set(task_ids))
        if not wanted:
            return {}
        stmt = (
            select(Task)
            .where(Task.id.in_(wanted))
            .order_by(Task.id)  # locked in id order, so two lockers cannot deadlock
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return {task.id: task for task in (await self.session.scalars(stmt)).all()}

    async def tasks_with_block_between(self, task_ids: Iterable[str], lo: datetime, hi: datetime) -> set[str]:
        """Which of the tasks have a block ending after `lo` and starting before `hi`."""
        wanted = list(set(task_ids))
        if not wanted:
            return set()
        stmt = (
            select(Block.task_id)
            .where(Block.task_id.in_(wanted), Block.end > lo, Block.start < hi)
            .distinct()
        )
        return set((await self.session.scalars(stmt)).all())

    async def live_triggers_by_dedupe(self, keys: Iterable[str]) -> dict[str, str]:
        """dedupe key -> id of the live trigger holding it."""
        wanted = list(set(keys))
        if not wanted:
            return {}
        stmt = select(Trigger.dedupe_key, Trigger.id).where(Trigger.dedupe_key.in_(wanted))
        return {key: tid for key, tid in (await self.session.execute(stmt)).all() if key is not None}

    # ---- the pipeline -------------------------------------------------------------------------------------
    async def lock_runnable_triggers(
        self, trigger_ids: Sequence[str], stale_before: datetime, *, skip_locked: bool
    ) -> list[Trigger]:
        """Of these triggers, the pending ones and those left processing since before `stale_before`
        (a crashed run), locked until the transaction ends, in the order asked. With skip_locked (MySQL), a
        trigger another run holds is left out instead of waited for. The rows are detached from the
        session: changing them writes nothing (write with update_rows)."""
        if not trigger_ids:
            return []
        stmt = (
            select(Trigger)
            .where(
                Trigger.id.in_(list(trigger_ids)),
                or_(
                    Trigger.status == TriggerStatus.PENDING,
                    and_(Trigger.status == TriggerStatus.PROCESSING, Trigger.updated_at <= stale_before),
                ),
            )
            .execution_options(populate_existing=True)
        )
        stmt = stmt.with_for_update(skip_locked=skip_locked and self._mysql)
        rows = {t.id: t for t in (await self.session.scalars(stmt)).all()}
        for row in rows.values():
            self.session.expunge(row)
        return [rows[i] for i in dict.fromkeys(trigger_ids) if i in rows]

    async def processing_trigger_ids(self, trigger_ids: Sequence[str]) -> set[str]:
        """Which of these triggers are still processing, locked until the transaction ends."""
        if not trigger_ids:
            return set()
        stmt = (
            select(Trigger.id)
            .where(Trigger.id.in_(list(trigger_ids)), Trigger.status == TriggerStatus.PROCESSING)
            .with_for_update()
        )
        return set((await self.session.scalars(stmt)).all())

    async def triggers(self, trigger_ids: Iterable[str]) -> dict[str, Trigger]:
        wanted = list(set(trigger_ids))
        if not wanted:
            return {}
        stmt = select(Trigger).where(Trigger.id.in_(wanted)).execution_options(populate_existing=True)
        return {t.id: t for t in (await self.session.scalars(stmt)).all()}

    async def previews_by_trigger(self, trigger_ids: Iterable[str]) -> dict[str, Preview]:
        wanted = list(set(trigger_ids))
        if not wanted:
            return {}
        stmt = select(Preview).where(Preview.trigger_id.in_(wanted))
        return {p.trigger_id: p for p in (await self.session.scalars(stmt)).all()}

    async def users(self, user_ids: Iterable[str]) -> dict[str, User]:
        wanted = list(set(user_ids))
        if not wanted:
            return {}
        stmt = select(User).where(User.id.in_(wanted)).execution_options(populate_existing=True)
        return {u.id: u for u in (await self.session.scalars(stmt)).all()}

    async def blocks_overlapping(self, ranges: Iterable[tuple[str, datetime, datetime]]) -> list[BlockFacts]:
        """Blocks of each user intersecting that user's (user_id, lo, hi) window (and possibly more of the
        user's blocks near it: callers filter), ordered by start. Windows within an hour of each other
        (a batch planned at one instant) share one condition on user_id IN (...), so the statement has the
        same shape, and is compiled once, whatever the batch size."""
        groups: list[tuple[datetime, datetime, set[str]]] = []
        for user_id, lo, hi in sorted(ranges, key=lambda r: r[1]):
            if groups and lo - groups[-1][0] <= WINDOW_SLACK and abs(hi - groups[-1][1]) <= WINDOW_SLACK:
                first_lo, last_hi, users = groups[-1]
                groups[-1] = (first_lo, max(last_hi, hi), users | {user_id})
            else:
                groups.append((lo, hi, {user_id}))
        if not groups:
            return []
        cond = or_(
            *(
                and_(
                    Block.user_id.in_(sorted(users)),
                    Block.start < hi,
                    Block.start > lo - MAX_BLOCK_LENGTH,
                    Block.end > lo,
                )
                for lo, hi, users in groups
            )
        )
        stmt = select(*_BLOCK_FACTS).where(cond).order_by(Block.start, Block.id)
        return cast("list[BlockFacts]", list((await self.session.execute(stmt)).all()))

    # The context reads below return Core rows of the columns a context needs: building ORM objects (and
    # parsing the columns nobody reads) cost more than the query.
    async def tasks(self, task_ids: Iterable[str]) -> list[TaskFacts]:
        wanted = list(set(task_ids))
        if not wanted:
            return []
        stmt = select(*_TASK_FACTS).where(Task.id.in_(wanted)).order_by(Task.id)
        return cast("list[TaskFacts]", list((await self.session.execute(stmt)).all()))

    async def fixed_events(self, user_ids: Iterable[str]) -> list[EventFacts]:
        wanted = list(set(user_ids))
        if not wanted:
            return []
        stmt = (
            select(*_EVENT_FACTS)
            .where(FixedEvent.user_id.in_(wanted))
            .order_by(FixedEvent.created_at, FixedEvent.id)
        )
        return cast("list[EventFacts]", list((await self.session.execute(stmt)).all()))

    async def day_extensions(self, user_ids: Iterable[str], first: date, last: date) -> list[ExtensionFacts]:
        wanted = list(set(user_ids))
        if not wanted:
            return []
        stmt = (
            select(*_EXTENSION_FACTS)
            .where(DayExtension.user_id.in_(wanted), DayExtension.day >= first, DayExtension.day <= last)
            .order_by(DayExtension.day)
        )
        return cast("list[ExtensionFacts]", list((await self.session.execute(stmt)).all()))

    # ---- a worker's recovery and shutdown ---------------------------------------------------------------
    async def left_behind_triggers(
        self, pending_before: datetime, processing_before: datetime, limit: int
    ) -> list[str]:
        """Triggers (not dry runs) still pending since before `pending_before` or processing since before
        `processing_before`: their process died before or while running them. Oldest first."""
        stmt = (
            select(Trigger.id)
            .where(
                or_(
                    and_(Trigger.status == TriggerStatus.PENDING, Trigger.updated_at <= pending_before),
                    and_(Trigger.status == TriggerStatus.PROCESSING, Trigger.updated_at <= processing_before),
                ),
                Trigger.type != TriggerType.DRY_RUN,
            )
            .order_by(Trigger.updated_at, Trigger.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def release_leases(self, worker_id: str, now: datetime) -> None:
        """Hand back every row `worker_id` holds. A `sending` notification keeps its state (the send's
        outcome is unknown) but its lease ends now, so lease recovery retries it with the same key."""
        free = {"claimed_by": None, "claimed_until": None}
        await self.session.execute(
            update(Notification)
            .where(Notification.claimed_by == worker_id, Notification.status.in_(NOTIFICATION_DUE))
            .values(**free)
        )
        await self.session.execute(
            update(Notification)
            .where(Notification.claimed_by == worker_id, Notification.status == NotificationStatus.SENDING)
            .values(claimed_until=now)
        )
        await self.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.claimed_by == worker_id, OutboxMessage.status == OutboxStatus.PENDING)
            .values(**free)
        )
        await self.session.execute(
            update(Job).where(Job.claimed_by == worker_id, Job.status == JobStatus.PENDING).values(**free)
        )


def _bound(value: Any, type_: Any) -> Any:
    # Bound with the column's own type, so UTC instants and JSON go through their processors.
    return null() if value is None else bindparam(None, value, type_=type_)


def _all_equal(values: Iterable[Any]) -> bool:
    it = iter(values)
    first = next(it)
    return all(v == first for v in it)
