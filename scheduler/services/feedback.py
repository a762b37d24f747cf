"""Which block an "unfinished" report means: the one running or just ended, or the named task's latest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from scheduler.planning.model import Target, TargetKind
from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from scheduler.services.learning import learn_overrun
from scheduler.services.taskref import match_task_ref
from scheduler.services.triggers import create_trigger
from store import Store, UnitOfWork
from store.enums import TaskStatus, TriggerType
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
    """The tasks a name in a report means: as `/done` reads a name (id, key, exact title, a meaningful
    part of a title: scheduler.services.taskref), else the tasks whose whole title the name contains
    ("物理实验报告那部分")."""
    found = list(match_task_ref(tasks, ref).tasks)
    if found:
        return found
    want = _norm(ref)
    return [t for t in tasks if len(_norm(t.title)) >= 2 and _norm(t.title) in want]


# Words a name can leave out without meaning another task ("the PR review" is "Review PR #482").
_STOPWORDS = frozenset(["the", "a", "an", "of", "for", "on", "in", "to", "my", "and", "with", "的"])
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_CJK_RUN = re.compile(rf"[{_CJK}]+")
_WORD = re.compile(rf"\d+|[{_CJK}]+|[^\W\d_{_CJK}]+")


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.casefold()) if w not in _STOPWORDS]


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _has_word(title: str, title_words: set[str], word: str) -> bool:
    if _CJK_RUN.fullmatch(word):
        return word in _norm(title)  # CJK is written without spaces: a run must appear somewhere
    return _singular(word) in title_words


def match_words(tasks: Sequence[Task], ref: str) -> list[Task]:
    """Tasks whose title has every word of `ref`, in any order and case ("PR review" finds "Review PR
    #482"). A name of one short Latin word is too weak to go by."""
    words = _words(ref)
    if not words or (len(words) == 1 and words[0].isascii() and len(words[0]) < 3):
        return []
    found = []
    for task in tasks:
        title_words = {_singular(w) for w in _words(task.title)}
        if all(_has_word(task.title, title_words, w) for w in words):
            found.append(task)
    return found


def match_feedback_tasks(tasks: Sequence[Task], ref: str) -> list[Task]:
    """The tasks an "unfinished" report names: as match_tasks (key, title, part of the title), else
    every word of the name somewhere in the title."""
    return match_tasks(tasks, ref) or match_words(tasks, ref)


def started_blocks(blocks: Sequence[Block], now: datetime) -> list[Block]:
    """Blocks that have begun, latest end first."""
    return sorted((b for b in blocks if b.start <= now), key=lambda b: (b.end, b.start, b.id), reverse=True)


class Found(StrEnum):
    BLOCK = "block"  # the target: one block, or the choices to ask between
    NOT_STARTED = "not_started"  # the named task's blocks all lie ahead: nothing can be unfinished yet
    NO_BLOCK = "no_block"  # the named task has no block at all
    TASK_DONE = "task_done"  # the name is of a task marked done: reopen it first
    NO_TASK = "no_task"  # no open task has that name
    NOTHING = "nothing"  # no name, and no block is running or just ended


@dataclass(frozen=True)
class Resolution:
    """What an "unfinished" report refers to; only BLOCK has a target worth a trigger."""

    found: Found
    target: Target
    tasks: tuple[Task, ...] = ()  # the named tasks that matched
    upcoming: Block | None = None  # NOT_STARTED: the earliest block ahead
    recent: tuple[Block, ...] = ()  # NO_TASK: what "the one just now" would have meant


async def resolve_feedback(
    uow: UnitOfWork, user: User, now: datetime, task_ref: str | None, remaining_minutes: int | None
) -> Resolution:
    """A named task's latest block that has begun (running or ended); without a name, the block that
    just ended or is running. A block that has not begun cannot be unfinished."""
    empty = _target([], remaining_minutes)
    if not task_ref:
        recent = await _recent(uow, user, now)
        return Resolution(Found.BLOCK if recent else Found.NOTHING, _target(recent, remaining_minutes))
    tasks = match_feedback_tasks(await uow.tasks.for_user(user.id, statuses=("open",)), task_ref)
    if not tasks:
        done = match_feedback_tasks(await uow.tasks.for_user(user.id, statuses=("done",)), task_ref)
        if done:
            return Resolution(Found.TASK_DONE, empty, tasks=tuple(done))
        return Resolution(Found.NO_TASK, empty, recent=tuple(await _recent(uow, user, now)))
    latest: list[Block] = []
    ahead: list[Block] = []
    for task in tasks:
        blocks = await uow.blocks.for_task(task.id)
        started = started_blocks(blocks, now)
        if started:
            latest.append(started[0])
        ahead += [b for b in blocks if b.start > now]
    if latest:
        latest.sort(key=lambda b: (b.end, b.id), reverse=True)
        return Resolution(Found.BLOCK, _target(latest, remaining_minutes), tasks=tuple(tasks))
    if ahead:
        upcoming = min(ahead, key=lambda b: (b.start, b.id))
        return Resolution(Found.NOT_STARTED, empty, tasks=tuple(tasks), upcoming=upcoming)
    return Resolution(Found.NO_BLOCK, empty, tasks=tuple(tasks))


async def resolve_unfinished(
    uow: UnitOfWork, user: User, now: datetime, task_ref: str | None, remaining_minutes: int | None
) -> Target:
    """The feedback target: a resolved block, or the plausible choices (empty when nothing fits)."""
    return (await resolve_feedback(uow, user, now, task_ref, remaining_minutes)).target


async def _recent(uow: UnitOfWork, user: User, now: datetime) -> list[Block]:
    nearby = await uow.blocks.overlapping(user.id, now - RECENT, now + timedelta(seconds=1))
    return just_now(nearby, now)


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


@dataclass(frozen=True)
class BlockView:
    """A block as a reply names it: its task's title and its time."""

    start: datetime
    end: datetime
    title: str


@dataclass(frozen=True)
class Reported:
    """A feedback trigger for the report: `trigger_id` is None when this message already made one."""

    trigger_id: str | None


@dataclass(frozen=True)
class NothingToMakeUp:
    """Why no card comes: what the report was understood to mean (see Found)."""

    found: Found
    titles: tuple[str, ...] = ()  # the named tasks
    block: BlockView | None = None  # NOT_STARTED: the block ahead; NO_TASK: the latest block


ReportOutcome = Reported | NothingToMakeUp


async def _block_view(uow: UnitOfWork, block: Block, known: Sequence[Task]) -> BlockView:
    task = next((x for x in known if x.id == block.task_id), None) or await uow.tasks.get(block.task_id)
    return BlockView(block.start, block.end, task.title if task is not None else "?")


async def report_unfinished(  # noqa: PLR0917 - the fields of a report
    store: Store,
    message: InboundMessage,
    task_ref: str | None,
    minutes: int | None,
    text: str,
    source_message_id: str,
) -> Handled[ReportOutcome] | None:
    """ "Unfinished" from the sender: the block that just ended or is running (or the named task's latest
    block that has begun) gets a feedback trigger for the pipeline, or the answer says why nothing can be
    made up. The trigger is keyed by the message: a repeat creates nothing."""

    async def work(t: Turn) -> ReportOutcome:
        resolution = await resolve_feedback(t.uow, t.user, t.now, task_ref, minutes)
        target = resolution.target
        if resolution.found is not Found.BLOCK or (target.block_id is None and not target.choices):
            return await _nothing(t, resolution)
        task_id = None
        block = None
        if target.block_id is not None:
            block = await t.uow.blocks.get(target.block_id)
            task_id = block.task_id if block is not None else None
        outcome = await create_trigger(
            t.uow,
            user=t.user,
            type=TriggerType.USER_FEEDBACK,
            now=t.now,
            task_id=task_id,
            block_id=target.block_id,
            source_message_id=source_message_id,
            remaining_minutes=minutes,
            user_text=text,
            choices=target.choices,
        )
        if outcome.created and block is not None and minutes is not None:
            learn_overrun(t.user, block.end - block.start, minutes)
        return Reported(outcome.trigger.id if outcome.created else None)

    return await handle(store, message, work)


async def _nothing(t: Turn, resolution: Resolution) -> NothingToMakeUp:
    titles = tuple(task.title for task in resolution.tasks)
    if resolution.found is Found.NOT_STARTED and resolution.upcoming is not None:
        block = await _block_view(t.uow, resolution.upcoming, resolution.tasks)
        return NothingToMakeUp(resolution.found, titles, block)
    if resolution.found is Found.NO_TASK and resolution.recent:
        return NothingToMakeUp(resolution.found, titles, await _block_view(t.uow, resolution.recent[0], ()))
    return NothingToMakeUp(resolution.found, titles)


async def done_task_of_trigger(store: Store, open_id: str, trigger_id: str) -> str | None:
    """The title of the trigger's task when it is marked done (why a report closed with no card), else
    None; another user's trigger is None too."""
    async with store.uow(readonly=True) as uow:
        trigger = await uow.triggers.get(trigger_id)
        user = await uow.users.get_by_open_id(open_id)
        if trigger is None or user is None or trigger.user_id != user.id or trigger.task_id is None:
            return None
        task = await uow.tasks.get(trigger.task_id)
        return task.title if task is not None and task.status == TaskStatus.DONE else None
