"""Which block an "unfinished" report means: the one running or just ended, or the named task's latest."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from scheduler.planning.model import Target, TargetKind
from store import UnitOfWork
from store.models import Block, Task, User

# A report without a task name refers to a block that is running or ended this recently.
RECENT = timedelta(hours=3)
# A block that ended this recently is what "just now" means, rather than one that started since.
JUST_ENDED = timedelta(minutes=30)
# Two blocks ending this close together are both plausible meanings of "the one just now".
AMBIGUOUS_GAP = timedelta(minutes=20)
MAX_CHOICES = 3


def _norm(text: str) -> str:
    return "".join(text.split()).casefold()


def match_tasks(tasks: Sequence[Task], ref: str) -> list[Task]:
    """Tasks whose key equals `ref`, else whose title equals it, else whose title contains it."""
    want = _norm(ref)
    if not want:
        return []
    by_key = [t for t in tasks if t.key is not None and _norm(t.key) == want]
    if by_key:
        return by_key
    exact = [t for t in tasks if _norm(t.title) == want]
    if exact:
        return exact
    return [
        t for t in tasks if want in _norm(t.title) or (len(_norm(t.title)) >= 2 and _norm(t.title) in want)
    ]


def _started(blocks: Sequence[Block], now: datetime) -> list[Block]:
    """Blocks that have begun, latest end first."""
    return sorted((b for b in blocks if b.start <= now), key=lambda b: (b.end, b.start, b.id), reverse=True)


async def resolve_unfinished(
    uow: UnitOfWork, user: User, now: datetime, task_ref: str | None, remaining_minutes: int | None
) -> Target:
    """The feedback target: a resolved block, or the plausible choices (empty when nothing fits)."""
    if task_ref:
        tasks = match_tasks(await uow.tasks.for_user(user.id, statuses=("open",)), task_ref)
        latest: list[Block] = []
        for task in tasks:
            blocks = await uow.blocks.for_task(task.id)
            started = _started(blocks, now)
            if started:
                latest.append(started[0])
            elif blocks:
                latest.append(blocks[0])
        latest.sort(key=lambda b: (b.end, b.id), reverse=True)
        return _target(latest, remaining_minutes)
    nearby = await uow.blocks.overlapping(user.id, now - RECENT, now + timedelta(seconds=1))
    return _target(just_now(nearby, now), remaining_minutes)


def just_now(blocks: Sequence[Block], now: datetime) -> list[Block]:
    """What "the one just now" can mean, most plausible first: a block that ended a moment ago beats one
    that is running (a report at 11:05 is about the 10:00-11:00 block, not the one that began at 11:00);
    blocks that ended within AMBIGUOUS_GAP of each other are all plausible."""
    ended = sorted((b for b in blocks if b.end <= now), key=lambda b: (b.end, b.id), reverse=True)
    running = sorted((b for b in blocks if b.start <= now < b.end), key=lambda b: (b.start, b.id))
    if ended and now - ended[0].end <= JUST_ENDED:
        close = [b for b in ended if ended[0].end - b.end <= AMBIGUOUS_GAP]
        # a block running for a while is as plausible as one that just ended
        return close + [b for b in running if now - b.start > JUST_ENDED]
    if running:
        return running
    return [b for b in ended if ended[0].end - b.end <= AMBIGUOUS_GAP] if ended else []


def _target(blocks: Sequence[Block], remaining_minutes: int | None) -> Target:
    if len(blocks) == 1:
        return Target(kind=TargetKind.UNFINISHED, block_id=blocks[0].id, remaining_minutes=remaining_minutes)
    return Target(
        kind=TargetKind.UNFINISHED,
        remaining_minutes=remaining_minutes,
        choices=tuple(b.id for b in blocks[:MAX_CHOICES]),
    )
