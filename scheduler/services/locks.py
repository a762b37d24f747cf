"""/lock and /unlock: the next block of a named task is never moved by the assistant, or may be again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from scheduler.services.tasks import TaskRef, Unpicked, pick_task
from store import Store
from store.enums import TaskStatus


@dataclass(frozen=True)
class BlockSpan:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class Locked:
    """The block now locked (or unlocked); `changed` is False when it already was."""

    title: str
    block: BlockSpan
    locked: bool
    changed: bool


@dataclass(frozen=True)
class NoBlockAhead:
    """The named task has no block that has not ended: nothing to lock."""

    title: str


LockOutcome = Locked | NoBlockAhead | Unpicked


async def set_lock(
    store: Store, message: InboundMessage, named: TaskRef, *, locked: bool
) -> Handled[LockOutcome] | None:
    """Lock (or unlock) the sender's next block of the open task `named`: the one running or the next to
    start. A change bumps the schedule version, so a card planned on the old state is refused on Apply.
    None: the message was already handled."""

    async def work(t: Turn) -> LockOutcome:
        tasks = await t.uow.tasks.for_user(t.user.id, statuses=(TaskStatus.OPEN,))
        task = pick_task(tasks, named)
        if isinstance(task, Unpicked):
            return task
        ahead = sorted(
            (b for b in await t.uow.blocks.for_task(task.id) if b.end > t.now and b.user_id == t.user.id),
            key=lambda b: (b.start, b.id),
        )
        if not ahead:
            return NoBlockAhead(task.title)
        block = ahead[0]
        changed = block.locked != locked
        if changed:
            block.locked = locked
            block.version += 1
            block.updated_at = t.now
            await t.uow.users.bump_schedule(t.user.id)
        return Locked(task.title, BlockSpan(block.start, block.end), locked, changed)

    return await handle(store, message, work)
