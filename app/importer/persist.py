"""Load what the database holds for an import and write a checked plan (create, update in place, or skip)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from app.importer.plan import (
    BlockRow,
    EventRow,
    Existing,
    Identity,
    ImportPlan,
    block_identity,
    event_identity,
)
from app.importer.schema import ImportFile
from store import UnitOfWork, new_id
from store.enums import BlockSource, Role
from store.models import Block, FixedEvent, Task, User

# progress(section, done, total): called every PROGRESS_EVERY rows of a section, and at its end.
Progress = Callable[[str, int, int], None]
PROGRESS_EVERY = 1000


def hhmm(value: time, *, day_end: bool = False) -> str:
    """Stored form of a local time; a day end of 00:00 is midnight at the end of the day, "24:00"."""
    if day_end and value == time(0, 0):
        return "24:00"
    return f"{value.hour:02d}:{value.minute:02d}"


def parse_hhmm(value: str) -> time:
    h, m = (int(p) for p in value.split(":"))
    return time(0, 0) if h == 24 else time(h, m)


@dataclass
class SectionCount:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportSummary:
    users: SectionCount = field(default_factory=SectionCount)
    fixed_events: SectionCount = field(default_factory=SectionCount)
    tasks: SectionCount = field(default_factory=SectionCount)
    blocks: SectionCount = field(default_factory=SectionCount)

    def sections(self) -> dict[str, SectionCount]:
        return {
            "users": self.users,
            "fixed_events": self.fixed_events,
            "tasks": self.tasks,
            "blocks": self.blocks,
        }


@dataclass
class Snapshot:
    """The stored rows an import may update, keyed the way file records identify them."""

    users: dict[str, User] = field(default_factory=dict)  # by open_id
    tasks: dict[tuple[str, str], Task] = field(default_factory=dict)  # by (open_id, key)
    events: dict[tuple[str, Identity], FixedEvent] = field(default_factory=dict)
    blocks: dict[tuple[str, Identity], Block] = field(default_factory=dict)
    existing: Existing = field(default_factory=Existing)


def _event_row(open_id: str, e: FixedEvent) -> EventRow:
    local_start = parse_hhmm(e.local_start) if e.local_start else None
    return EventRow(
        user=open_id,
        identity=event_identity(e.key, e.title, e.start, e.weekday, local_start),
        key=e.key,
        title=e.title,
        start=e.start,
        end=e.end,
        weekday=e.weekday,
        local_start=local_start,
        local_end=parse_hhmm(e.local_end) if e.local_end else None,
        valid_from=e.valid_from,
        valid_until=e.valid_until,
    )


async def load_snapshot(uow: UnitOfWork, doc: ImportFile) -> Snapshot:
    """Read the users the file mentions and their tasks, fixed events and blocks."""
    open_ids = sorted(
        {u.open_id for u in doc.users}
        | {e.user for e in doc.fixed_events}
        | {t.user for t in doc.tasks}
        | {b.user for b in doc.blocks}
    )
    snap = Snapshot()
    timezones: dict[str, str] = {}
    task_keys: set[tuple[str, str]] = set()
    events: dict[str, tuple[EventRow, ...]] = {}
    blocks: dict[str, tuple[BlockRow, ...]] = {}
    for open_id in open_ids:
        user = await uow.users.get_by_open_id(open_id)
        if user is None:
            continue
        snap.users[open_id] = user
        timezones[open_id] = user.timezone
        key_of: dict[str, str] = {}
        for t in await uow.tasks.for_user(user.id):
            if t.key is not None:
                snap.tasks[open_id, t.key] = t
                task_keys.add((open_id, t.key))
                key_of[t.id] = t.key
        rows = []
        for e in await uow.events.for_user(user.id):
            row = _event_row(open_id, e)
            snap.events[open_id, row.identity] = e
            rows.append(row)
        events[open_id] = tuple(rows)
        brows = []
        for b in await uow.blocks.for_user(user.id):
            task_key = key_of.get(b.task_id)
            # Blocks of tasks without a key can never be named by a file: identify them by id.
            ident = block_identity(b.key, task_key, b.start) if task_key else ("id", b.id)
            snap.blocks[open_id, ident] = b
            brows.append(BlockRow(open_id, ident, b.key, task_key or "", b.start, b.end, b.locked))
        blocks[open_id] = tuple(brows)
    snap.existing = Existing(
        user_timezones=timezones, task_keys=frozenset(task_keys), events=events, blocks=blocks
    )
    return snap


def _assign(row: Any, values: dict[str, Any]) -> bool:
    """Set only the attributes that differ; True when anything changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _upsert(  # noqa: PLR0917 - one call shape for four sections
    uow: UnitOfWork,
    stored: Any,
    model: type[Any],
    identity: dict[str, Any],
    values: dict[str, Any],
    count: SectionCount,
    now: datetime,
    touched: set[str] | None = None,
) -> tuple[Any, bool]:
    """Insert a new row, or update `stored` in place only if a value differs; (row, written). The user id
    of a written row goes into `touched`: that user's schedule changed."""
    if stored is None:
        row = model(id=new_id(), **identity, **values, created_at=now, updated_at=now)
        uow.session.add(row)
        count.created += 1
        if touched is not None:
            touched.add(row.id if isinstance(row, User) else row.user_id)
        return row, True
    if not _assign(stored, values):
        count.unchanged += 1  # untouched: no updated_at churn, no version bump
        return stored, False
    stored.updated_at = now
    if hasattr(stored, "version"):
        stored.version += 1
    count.updated += 1
    if touched is not None:
        touched.add(stored.id if isinstance(stored, User) else stored.user_id)
    return stored, True


def _ticker(section: str, total: int, progress: Progress | None) -> Callable[[int], None]:
    def tick(done: int) -> None:
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(section, done, total)

    return tick


async def write_plan(
    uow: UnitOfWork, plan: ImportPlan, snap: Snapshot, now: datetime, progress: Progress | None = None
) -> tuple[ImportSummary, list[str]]:
    """Create or update every record of the plan; returns the summary and the ids of written tasks."""
    summary = ImportSummary()
    touched: set[str] = set()
    user_ids = _write_users(uow, plan, snap, now, summary.users, progress, touched)
    await uow.flush()  # users first: every other row refers to them
    _write_events(uow, plan, snap, user_ids, now, summary.fixed_events, progress, touched)
    task_ids, written = _write_tasks(uow, plan, snap, user_ids, now, summary.tasks, progress, touched)
    await uow.flush()  # tasks before the blocks that refer to them
    _write_blocks(uow, plan, snap, user_ids, task_ids, now, summary.blocks, progress, touched)
    # A stored user whose preferences, events, tasks or blocks changed: previews planned before are stale.
    for user in snap.users.values():
        if user.id in touched:
            user.schedule_version += 1
    await uow.flush()
    return summary, written


def _write_users(  # noqa: PLR0917
    uow: UnitOfWork,
    plan: ImportPlan,
    snap: Snapshot,
    now: datetime,
    count: SectionCount,
    progress: Progress | None,
    touched: set[str],
) -> dict[str, str]:
    ids = {open_id: user.id for open_id, user in snap.users.items()}
    tick = _ticker("users", len(plan.users), progress)
    for i, u in enumerate(plan.users, 1):
        values: dict[str, Any] = {
            "name": u.name,
            "timezone": u.timezone,
            "locale": u.locale,
            "day_start": hhmm(u.day_start),
            "day_end": hhmm(u.day_end, day_end=True),
            "role": Role.ADMIN.value if u.admin else Role.USER.value,
        }
        stored = snap.users.get(u.open_id)
        row, _ = _upsert(uow, stored, User, {"open_id": u.open_id}, values, count, now, touched)
        ids[u.open_id] = row.id
        tick(i)
    return ids


def _write_events(  # noqa: PLR0917
    uow: UnitOfWork,
    plan: ImportPlan,
    snap: Snapshot,
    user_ids: dict[str, str],
    now: datetime,
    count: SectionCount,
    progress: Progress | None,
    touched: set[str],
) -> None:
    tick = _ticker("fixed_events", len(plan.events), progress)
    for i, e in enumerate(plan.events, 1):
        values: dict[str, Any] = {
            "key": e.key,
            "title": e.title,
            "start": e.start,
            "end": e.end,
            "weekday": e.weekday,
            "local_start": hhmm(e.local_start) if e.local_start else None,
            "local_end": hhmm(e.local_end) if e.local_end else None,
            "valid_from": e.valid_from,
            "valid_until": e.valid_until,
        }
        stored = snap.events.get((e.user, e.identity))
        _upsert(uow, stored, FixedEvent, {"user_id": user_ids[e.user]}, values, count, now, touched)
        tick(i)


def _write_tasks(  # noqa: PLR0917
    uow: UnitOfWork,
    plan: ImportPlan,
    snap: Snapshot,
    user_ids: dict[str, str],
    now: datetime,
    count: SectionCount,
    progress: Progress | None,
    touched: set[str],
) -> tuple[dict[tuple[str, str], str], list[str]]:
    ids = {k: t.id for k, t in snap.tasks.items()}
    written: list[str] = []
    tick = _ticker("tasks", len(plan.tasks), progress)
    for i, t in enumerate(plan.tasks, 1):
        values: dict[str, Any] = {
            "title": t.title,
            "quadrant": t.quadrant,
            "estimate_minutes": t.estimate_minutes,
            "deadline": t.deadline,
            "urgency_threshold_at": t.urgency_threshold_at,
            "status": t.status,
        }
        stored = snap.tasks.get((t.user, t.key))
        ident = {"user_id": user_ids[t.user], "key": t.key}
        row, changed = _upsert(uow, stored, Task, ident, values, count, now, touched)
        ids[t.user, t.key] = row.id
        if changed:
            written.append(row.id)
        tick(i)
    return ids, written


def _write_blocks(  # noqa: PLR0917
    uow: UnitOfWork,
    plan: ImportPlan,
    snap: Snapshot,
    user_ids: dict[str, str],
    task_ids: dict[tuple[str, str], str],
    now: datetime,
    count: SectionCount,
    progress: Progress | None,
    touched: set[str],
) -> None:
    tick = _ticker("blocks", len(plan.blocks), progress)
    for i, b in enumerate(plan.blocks, 1):
        values: dict[str, Any] = {
            "key": b.key,
            "task_id": task_ids[b.user, b.task_key],
            "start": b.start,
            "end": b.end,
            "locked": b.locked,
        }
        stored = snap.blocks.get((b.user, b.identity))
        ident = {"user_id": user_ids[b.user], "source": BlockSource.IMPORT.value}
        _upsert(uow, stored, Block, ident, values, count, now, touched)
        tick(i)


def count_records(doc: ImportFile) -> int:
    return sum(len(section) for section in _sections(doc))


def _sections(doc: ImportFile) -> Iterable[list[Any]]:
    return (doc.users, doc.fixed_events, doc.tasks, doc.blocks)
