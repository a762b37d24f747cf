"""Repositories for the schedule facts: users, tasks, fixed events, blocks, day extensions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta

from sqlalchemy import select, update

from store.enums import TaskStatus
from store.models import Block, DayExtension, FixedEvent, Task, User
from store.repositories.base import Repository

# No block is longer than this (the importer refuses longer ones; the planner never writes them), so a range
# query can bound the start from below and read only the blocks near the range, not every past block.
MAX_BLOCK_LENGTH = timedelta(hours=24)


class UserRepository(Repository[User]):
    model = User

    async def get_by_open_id(self, open_id: str, *, for_update: bool = False) -> User | None:
        stmt = select(User).where(User.open_id == open_id)
        if for_update:
            stmt = stmt.with_for_update().execution_options(populate_existing=True)
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_open_ids(self, open_ids: Sequence[str]) -> dict[str, User]:
        """The users of these open_ids, by open_id, in one statement (an unknown one is left out)."""
        wanted = sorted(set(open_ids))
        if not wanted:
            return {}
        stmt = select(User).where(User.open_id.in_(wanted))
        return {u.open_id: u for u in (await self.session.scalars(stmt)).all()}

    async def bump_schedule(self, user_id: str) -> None:
        """The user's schedule (blocks, fixed events, day extensions, preferences, a planned task) changed:
        previews planned on the old version are stale. Call inside the transaction that made the change.
        (A caller holding the user's row locked may instead add 1 to `user.schedule_version`.)"""
        stmt = update(User).where(User.id == user_id).values(schedule_version=User.schedule_version + 1)
        await self.session.execute(stmt.execution_options(synchronize_session=False))

    async def list_all(self) -> Sequence[User]:
        return (await self.session.scalars(select(User).order_by(User.open_id))).all()


class TaskRepository(Repository[Task]):
    model = Task

    async def get_by_key(self, user_id: str, key: str) -> Task | None:
        stmt = select(Task).where(Task.user_id == user_id, Task.key == key)
        return (await self.session.scalars(stmt)).one_or_none()

    async def due_for_promotion(
        self, promotable: Iterable[int], now: datetime, limit: int, *, skip_locked: bool
    ) -> Sequence[Task]:
        """Open tasks in a promotable quadrant whose urgency threshold has passed, locked (rows another
        worker holds are skipped when `skip_locked`, on MySQL)."""
        stmt = (
            select(Task)
            .where(
                Task.status == TaskStatus.OPEN,
                Task.quadrant.in_(list(promotable)),
                Task.urgency_threshold_at <= now,
            )
            .order_by(Task.urgency_threshold_at, Task.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if skip_locked and self.session.get_bind().dialect.name == "mysql":
            stmt = stmt.with_for_update(skip_locked=True)
        return (await self.session.scalars(stmt)).all()

    async def lock_many(self, ids: Iterable[str]) -> Sequence[Task]:
        """Load and lock these tasks (in id order, so two lockers cannot deadlock) in one statement."""
        wanted = sorted(set(ids))
        if not wanted:
            return []
        stmt = (
            select(Task)
            .where(Task.id.in_(wanted))
            .order_by(Task.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(stmt)).all()

    async def for_user(self, user_id: str, statuses: Iterable[str] | None = None) -> Sequence[Task]:
        stmt = select(Task).where(Task.user_id == user_id)
        if statuses is not None:
            stmt = stmt.where(Task.status.in_(list(statuses)))
        return (await self.session.scalars(stmt.order_by(Task.created_at, Task.id))).all()


class EventRepository(Repository[FixedEvent]):
    model = FixedEvent

    async def get_by_key(self, user_id: str, key: str) -> FixedEvent | None:
        stmt = select(FixedEvent).where(FixedEvent.user_id == user_id, FixedEvent.key == key)
        return (await self.session.scalars(stmt)).one_or_none()

    async def for_user(self, user_id: str) -> Sequence[FixedEvent]:
        """Every fixed event of the user, one-off and weekly; callers expand weekly ones into a window."""
        stmt = select(FixedEvent).where(FixedEvent.user_id == user_id)
        return (await self.session.scalars(stmt.order_by(FixedEvent.created_at, FixedEvent.id))).all()

    async def for_users(self, user_ids: Iterable[str]) -> dict[str, list[FixedEvent]]:
        """`for_user` of many users in one statement, by user (a user without events is left out)."""
        wanted = sorted(set(user_ids))
        out: dict[str, list[FixedEvent]] = {}
        if not wanted:
            return out
        stmt = select(FixedEvent).where(FixedEvent.user_id.in_(wanted))
        for event in (await self.session.scalars(stmt.order_by(FixedEvent.created_at, FixedEvent.id))).all():
            out.setdefault(event.user_id, []).append(event)
        return out


class BlockRepository(Repository[Block]):
    model = Block

    async def get_by_key(self, user_id: str, key: str) -> Block | None:
        stmt = select(Block).where(Block.user_id == user_id, Block.key == key)
        return (await self.session.scalars(stmt)).one_or_none()

    async def overlapping(
        self, user_id: str, start: datetime, end: datetime, exclude_ids: Iterable[str] = ()
    ) -> Sequence[Block]:
        """Blocks of the user intersecting the half-open interval [start, end), ordered by start."""
        stmt = select(Block).where(
            Block.user_id == user_id,
            Block.start < end,
            Block.start > start - MAX_BLOCK_LENGTH,
            Block.end > start,
        )
        excluded = list(exclude_ids)
        if excluded:
            stmt = stmt.where(Block.id.not_in(excluded))
        return (await self.session.scalars(stmt.order_by(Block.start, Block.id))).all()

    async def overlapping_many(
        self, ranges: Iterable[tuple[str, datetime, datetime]]
    ) -> dict[str, list[Block]]:
        """`overlapping` for many (user id, start, end) in one statement, by user: each user's blocks
        intersecting their own range, ordered by start (exclusions are the caller's)."""
        wanted = list(ranges)
        out: dict[str, list[Block]] = {}
        if not wanted:
            return out
        lo, hi = min(r[1] for r in wanted), max(r[2] for r in wanted)
        stmt = select(Block).where(
            Block.user_id.in_(sorted({r[0] for r in wanted})),
            Block.start < hi,
            Block.start > lo - MAX_BLOCK_LENGTH,
            Block.end > lo,
        )
        found = (await self.session.scalars(stmt.order_by(Block.start, Block.id))).all()
        for user_id, start, end in wanted:
            out[user_id] = [
                b
                for b in found
                if b.user_id == user_id
                and b.start < end
                and b.start > start - MAX_BLOCK_LENGTH
                and b.end > start
            ]
        return out

    async def for_task(self, task_id: str) -> Sequence[Block]:
        stmt = select(Block).where(Block.task_id == task_id).order_by(Block.start, Block.id)
        return (await self.session.scalars(stmt)).all()

    async def for_user(self, user_id: str) -> Sequence[Block]:
        stmt = select(Block).where(Block.user_id == user_id).order_by(Block.start, Block.id)
        return (await self.session.scalars(stmt)).all()

    async def any_repairs(self, block_ids: Iterable[str]) -> bool:
        """True when some block is a make-up for one of `block_ids`."""
        wanted = list(block_ids)
        if not wanted:
            return False
        stmt = select(Block.id).where(Block.makeup_for.in_(wanted)).limit(1)
        return (await self.session.scalars(stmt)).first() is not None


class DayExtensionRepository(Repository[DayExtension]):
    model = DayExtension

    async def get_for_day(self, user_id: str, day: date) -> DayExtension | None:
        stmt = select(DayExtension).where(DayExtension.user_id == user_id, DayExtension.day == day)
        return (await self.session.scalars(stmt)).one_or_none()

    async def between(self, user_id: str, first: date, last: date) -> Sequence[DayExtension]:
        """Extensions for local days first..last inclusive."""
        stmt = select(DayExtension).where(
            DayExtension.user_id == user_id, DayExtension.day >= first, DayExtension.day <= last
        )
        return (await self.session.scalars(stmt.order_by(DayExtension.day))).all()
