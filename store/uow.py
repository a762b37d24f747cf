"""Store and unit of work: one AsyncSession per unit, explicit commit, rollback when left uncommitted."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import weakref
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from store import migrate
from store.engine import READONLY_OPTION, SQLITE_BUSY_TIMEOUT_MS, backend, create_engine, sqlite_path
from store.errors import StoreError, StoreErrorCode
from store.models import Base
from store.repositories import (
    AuditRepository,
    BlockRepository,
    ChangeSetRepository,
    DayExtensionRepository,
    EventRepository,
    InboxRepository,
    JobRepository,
    NotificationRepository,
    OutboxRepository,
    PressRepository,
    PreviewRepository,
    TaskRepository,
    TriggerRepository,
    UserRepository,
    claim,
)
from store.repositories.batch import BatchRepository
from store.repositories.calendar import CalendarRepository
from store.repositories.connections import ConnectionRepository
from store.repositories.delivery import DeliveryRepository
from store.repositories.ops import OpsRepository
from store.repositories.relay import RelayRepository
from store.repositories.tasksync import TaskSyncRepository
from store.repositories.throttle import ThrottleRepository

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Base)


class UnitOfWork:
    """Repositories over one AsyncSession; nothing is written until `commit()`."""

    def __init__(self, session: AsyncSession, *, readonly: bool = False) -> None:
        self.session = session
        self.readonly = readonly
        self._held: list[object] = []
        self.users = UserRepository(session)
        self.tasks = TaskRepository(session)
        self.events = EventRepository(session)
        self.blocks = BlockRepository(session)
        self.day_extensions = DayExtensionRepository(session)
        self.jobs = JobRepository(session)
        self.triggers = TriggerRepository(session)
        self.previews = PreviewRepository(session)
        self.change_sets = ChangeSetRepository(session)
        self.notifications = NotificationRepository(session)
        self.outbox = OutboxRepository(session)
        self.inbox = InboxRepository(session)
        self.audit = AuditRepository(session)
        self.batch = BatchRepository(session)
        self.presses = PressRepository(session)
        self.delivery = DeliveryRepository(session)
        self.relay = RelayRepository(session)
        self.ops = OpsRepository(session)
        self.calendar = CalendarRepository(session)
        self.connections = ConnectionRepository(session)
        self.throttle = ThrottleRepository(session)
        self.tasksync = TaskSyncRepository(session)

    def hold(self, *rows: object) -> None:
        """Keep `rows` referenced for the life of this unit: the session's identity map holds clean rows
        weakly, so a row a service loaded and let go would otherwise be read again by the next `get`."""
        self._held.extend(rows)

    def row_state(self, row: object) -> tuple[bool, bool]:
        """(pending, deleted) of a mapped row in this unit: not yet flushed, or deleted (flushed or only
        marked)."""
        state = sa_inspect(row)
        return bool(state.pending), bool(state.deleted or state.was_deleted or row in self.session.deleted)

    @property
    def dialect(self) -> str:
        """'sqlite' or 'mysql'."""
        return self.session.get_bind().dialect.name

    async def commit(self) -> None:
        if self.readonly:
            raise StoreError(StoreErrorCode.READ_ONLY, "a read-only unit of work cannot commit")
        await self.session.commit()

    async def rollback(self) -> None:
        await self.session.rollback()

    async def flush(self) -> None:
        await self.session.flush()

    async def claim(  # noqa: PLR0917 - mirrors store.repositories.lease.claim
        self,
        model: type[M],
        worker_id: str,
        now: datetime,
        lease_seconds: float,
        limit: int,
        where: Sequence[ColumnElement[bool]] = (),
        order_by: Sequence[Any] = (),
    ) -> list[M]:
        """Lease rows of `model` to `worker_id`; see store.repositories.lease.claim."""
        return await claim(self.session, model, worker_id, now, lease_seconds, limit, where, order_by)


# Set while a task is inside a SQLite write unit (and inherited by the tasks it starts): a unit opened
# there does not queue again behind the one it is part of.
_WRITING: ContextVar[bool] = ContextVar("store_writing", default=False)


class Store:
    """The database: an async engine plus units of work. Create one per process and `dispose()` it."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.backend = backend(url)
        self.engine: AsyncEngine = create_engine(url, **engine_kwargs)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        readonly_engine = self.engine.execution_options(**{READONLY_OPTION: True})
        self._readonly_sessions = async_sessionmaker(readonly_engine, expire_on_commit=False, autoflush=False)
        # SQLite has one writer: this process's write units queue here, one event loop at a time.
        self._write_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def uow(self, *, readonly: bool = False) -> AsyncIterator[UnitOfWork]:
        """`async with store.uow() as uow: ...; await uow.commit()`; leaving without commit rolls back.

        A read-only unit (readonly=True) cannot commit and, on SQLite, does not take the write lock. On
        SQLite the write units of this process take turns (first come, first served) before taking the
        file's write lock: waiting in SQLite's busy handler instead, a unit sleeps up to 100 ms between
        tries and can miss many turns while a burst of others goes by."""
        if readonly or self.backend != "sqlite" or _WRITING.get():
            async with self._unit(readonly) as unit:
                yield unit
            return
        turn = self._write_turns.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        try:
            async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
                await turn.acquire()
        except TimeoutError:
            # what SQLite itself says after waiting as long: a lock conflict, retried where those are
            raise OperationalError(
                "BEGIN IMMEDIATE", None, sqlite3.OperationalError("database is locked")
            ) from None
        writing = _WRITING.set(True)
        try:
            async with self._unit(readonly) as unit:
                yield unit
        finally:
            _WRITING.reset(writing)
            turn.release()

    @asynccontextmanager
    async def _unit(self, readonly: bool) -> AsyncIterator[UnitOfWork]:
        factory = self._readonly_sessions if readonly else self._sessions
        async with factory() as session:
            try:
                yield UnitOfWork(session, readonly=readonly)
            finally:
                if session.in_transaction():
                    await session.rollback()

    async def ping(self) -> None:
        """One round trip to the database (readiness); raises when it cannot be reached."""
        async with self._readonly_sessions() as session:
            await session.execute(text("SELECT 1"))

    async def ensure_schema(self) -> None:
        """Make the schema current: SQLite files are created/upgraded by running the migrations; a MySQL
        database must already be at head (`smartflow db upgrade`)."""
        if self.backend == "sqlite":
            if sqlite_path(self.url) is None:
                # In-memory databases live in this engine only, so the migration runner cannot reach them.
                async with self.engine.begin() as conn:
                    await conn.run_sync(Base.metadata.create_all)
                return
            await asyncio.to_thread(migrate.upgrade, self.url)
            return
        async with self.engine.connect() as conn:
            current = await conn.run_sync(migrate.current_revision)
        if current != migrate.head_revision():
            raise StoreError(
                StoreErrorCode.SCHEMA_OUT_OF_DATE,
                f"database schema is at {current or 'nothing'}, expected {migrate.head_revision()}: "
                "run `smartflow db upgrade`",
            )

    async def dispose(self) -> None:
        await self.engine.dispose()
