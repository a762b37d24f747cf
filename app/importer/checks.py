"""Cross-record validation of a parsed file against what the database holds; builds the ImportPlan."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time

from app.importer.errors import ImportErrorCode, ImportRejectedError, Problem
from app.importer.overlaps import check_overlaps
from app.importer.parse import LineMap, format_loc
from app.importer.plan import (
    BlockRow,
    Defaults,
    EventRow,
    Existing,
    Identity,
    ImportPlan,
    TaskRow,
    UserRow,
    block_identity,
    event_identity,
    to_utc,
    wall_clock_problem,
)
from app.importer.schema import ImportFile
from store.repositories.schedule import MAX_BLOCK_LENGTH

# build_plan's known_user(section, index, open_id): reports an unknown user and says whether it is known.
_Known = Callable[[str, int, str], bool]


class _Collector:
    def __init__(self, lines: LineMap) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def add(self, loc: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(format_loc(loc), message, self.lines.line(loc)))


def build_plan(
    doc: ImportFile, lines: LineMap, existing: Existing, defaults: Defaults, now: datetime
) -> ImportPlan:
    """Check every cross-record rule; raise ImportRejectedError listing all problems (with those the shape
    check left in `lines.problems`), or return the plan."""
    out = _Collector(lines)
    users = _users(doc, defaults, out)
    timezones = {**existing.user_timezones, **{u.open_id: u.timezone for u in users}}

    def known_user(section: str, i: int, open_id: str) -> bool:
        if open_id in timezones:
            return True
        if open_id in lines.left_out_users:
            return False  # that user's record has a problem of its own
        out.add((section, i, "user"), f"unknown user {open_id!r} (not in users and not in the database)")
        return False

    events = _events(doc, timezones, known_user, out)
    tasks = _tasks(doc, timezones, known_user, out)
    task_keys = existing.task_keys | {(t.user, t.key) for t in tasks}
    blocks = _blocks(doc, timezones, task_keys, known_user, out)
    if not out.problems and not lines.problems:
        moved = {
            u.open_id: i
            for i, u in enumerate(doc.users)
            if u.open_id in existing.user_timezones
            and existing.user_timezones[u.open_id] != timezones[u.open_id]
        }
        check_overlaps(blocks, events, existing, timezones, now, out.add, moved_users=moved)
    if out.problems or lines.problems:
        # Shape and cross-record problems together, in file order.
        problems = list(dict.fromkeys([*lines.problems, *out.problems]))
        problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise ImportRejectedError(ImportErrorCode.INVALID, problems)
    return ImportPlan(users=tuple(users), events=tuple(events), tasks=tuple(tasks), blocks=tuple(blocks))


def _users(doc: ImportFile, defaults: Defaults, out: _Collector) -> list[UserRow]:
    seen: dict[str, int] = {}
    rows = []
    for i, u in enumerate(doc.users):
        if u.open_id in seen:
            out.add(("users", i, "open_id"), f"duplicate user {u.open_id!r} (also users[{seen[u.open_id]}])")
            continue
        seen[u.open_id] = i
        day_start = u.day_start or defaults.day_start
        day_end = u.day_end if u.day_end is not None else defaults.day_end
        if day_end != time(0, 0) and day_end <= day_start:
            out.add(("users", i, "day_end"), "must be after day_start")
        rows.append(
            UserRow(
                open_id=u.open_id,
                name=u.name or u.open_id,
                timezone=u.timezone or defaults.timezone,
                locale=u.locale or defaults.locale,
                day_start=day_start,
                day_end=day_end,
                admin=u.admin,
            )
        )
    return rows


def _events(
    doc: ImportFile, timezones: dict[str, str], known_user: _Known, out: _Collector
) -> list[EventRow]:
    rows: list[EventRow] = []
    seen: dict[tuple[str, Identity], int] = {}
    for i, e in enumerate(doc.fixed_events):
        sec = ("fixed_events", i)
        if not known_user("fixed_events", i, e.user):
            continue
        tz = timezones[e.user]
        if e.weekly is not None:
            if e.start is not None or e.end is not None:
                out.add((*sec, "weekly"), "give either start/end or weekly, not both")
                continue
            w = e.weekly
            if w.end <= w.start:
                out.add((*sec, "weekly", "end"), "end must be after start")
            if e.valid_from and e.valid_until and e.valid_until < e.valid_from:
                out.add((*sec, "until"), "until must not be before from")
            row = EventRow(
                user=e.user,
                identity=event_identity(e.key, e.title, None, w.weekday, w.start),
                key=e.key,
                title=e.title,
                weekday=w.weekday,
                local_start=w.start,
                local_end=w.end,
                valid_from=e.valid_from,
                valid_until=e.valid_until,
            )
        else:
            if e.start is None or e.end is None:
                field = "start" if e.start is None else "end"
                out.add((*sec, field), "required for a one-off event (or give weekly)")
                continue
            for name, value in (("from", e.valid_from), ("until", e.valid_until)):
                if value is not None:
                    out.add((*sec, name), "only weekly events have from/until")
            if not _unambiguous(out, sec, tz, start=e.start, end=e.end):
                continue
            start, end = to_utc(e.start, tz), to_utc(e.end, tz)
            if end <= start:
                out.add((*sec, "end"), "end must be after start")
            row = EventRow(
                user=e.user,
                identity=event_identity(e.key, e.title, start, None, None),
                key=e.key,
                title=e.title,
                start=start,
                end=end,
            )
        ident = (e.user, row.identity)
        if ident in seen:
            field = "key" if e.key is not None else "title"
            out.add((*sec, field), f"same event as fixed_events[{seen[ident]}]")
            continue
        seen[ident] = i
        rows.append(row)
    return rows


def _unambiguous(out: _Collector, sec: tuple[str | int, ...], tz: str, **values: datetime | None) -> bool:
    """Report each naive time that a daylight-saving change makes nonexistent or ambiguous in `tz`."""
    ok = True
    for field, value in values.items():
        problem = wall_clock_problem(value, tz) if value is not None else None
        if problem is not None:
            out.add((*sec, field), problem)
            ok = False
    return ok


def _tasks(doc: ImportFile, timezones: dict[str, str], known_user: _Known, out: _Collector) -> list[TaskRow]:
    rows: list[TaskRow] = []
    seen: dict[tuple[str, str], int] = {}
    for i, t in enumerate(doc.tasks):
        if not known_user("tasks", i, t.user):
            continue
        if (t.user, t.key) in seen:
            out.add(("tasks", i, "key"), f"duplicate task key {t.key!r} (also tasks[{seen[t.user, t.key]}])")
            continue
        seen[t.user, t.key] = i
        tz = timezones[t.user]
        instants = {"deadline": t.deadline, "urgency_threshold_at": t.urgency_threshold_at}
        if not _unambiguous(out, ("tasks", i), tz, **instants):
            continue
        rows.append(
            TaskRow(
                user=t.user,
                key=t.key,
                title=t.title,
                quadrant=t.quadrant,
                estimate_minutes=t.estimate_minutes,
                deadline=to_utc(t.deadline, tz) if t.deadline else None,
                urgency_threshold_at=to_utc(t.urgency_threshold_at, tz) if t.urgency_threshold_at else None,
                status=t.status,
            )
        )
    return rows


def _blocks(
    doc: ImportFile,
    timezones: dict[str, str],
    task_keys: frozenset[tuple[str, str]],
    known_user: _Known,
    out: _Collector,
) -> list[BlockRow]:
    rows: list[BlockRow] = []
    seen: dict[tuple[str, Identity], int] = {}
    for i, b in enumerate(doc.blocks):
        if not known_user("blocks", i, b.user):
            continue
        if (b.user, b.task) in out.lines.left_out_tasks and (b.user, b.task) not in task_keys:
            continue  # that task's record has a problem of its own
        if (b.user, b.task) not in task_keys:
            out.add(("blocks", i, "task"), f"unknown task key {b.task!r} for user {b.user!r}")
            continue
        tz = timezones[b.user]
        if not _unambiguous(out, ("blocks", i), tz, start=b.start, end=b.end):
            continue
        start, end = to_utc(b.start, tz), to_utc(b.end, tz)
        if end <= start:
            out.add(("blocks", i, "end"), "end must be after start")
            continue
        if end - start > MAX_BLOCK_LENGTH:
            out.add(("blocks", i, "end"), "a block is at most 24 hours long")
            continue
        row = BlockRow(b.user, block_identity(b.key, b.task, start), b.key, b.task, start, end, b.locked)
        if (b.user, row.identity) in seen:
            field = "key" if b.key is not None else "start"
            out.add(("blocks", i, field), f"same block as blocks[{seen[b.user, row.identity]}]")
            continue
        seen[b.user, row.identity] = i
        rows.append(row)
    return rows
