"""The schedule writes of an apply and their undo: slot re-checks, block/day-extension writes, snapshots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from scheduler.planning import expand_fixed_events
from scheduler.planning import model as pm
from scheduler.planning.clock import to_min
from scheduler.services.context import clock, fixed_event
from scheduler.services.errors import ErrorCode
from store import UnitOfWork
from store.enums import BlockSource
from store.models import Block, DayExtension, User

# Version of the JSON stored in change_sets.changes.
CHANGES_V = 1
BLOCK_KINDS = frozenset({pm.ChangeKind.ADD_BLOCK, pm.ChangeKind.MOVE_BLOCK, pm.ChangeKind.RESIZE_BLOCK})


class Refused(Exception):
    """A re-check failed while writing; the caller rolls the whole transaction back."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail


def _iso(dt: datetime) -> str:
    return dt.isoformat()


def block_snapshot(b: Block) -> dict[str, Any]:
    return {
        "id": b.id,
        "task_id": b.task_id,
        "start": _iso(b.start),
        "end": _iso(b.end),
        "version": b.version,
        "locked": b.locked,
        "source": b.source,
        "makeup_for": b.makeup_for,
    }


def extension_snapshot(x: DayExtension) -> dict[str, Any]:
    return {"id": x.id, "day": x.day.isoformat(), "day_end": x.day_end}


def _same_minutes(a: datetime, b: datetime, *, end: bool = False) -> bool:
    # The engine works in whole minutes (starts floored, ends ceiled), so compare the way it saw them.
    return to_min(a, ceil=end) == to_min(b, ceil=end)


async def ensure_free(
    uow: UnitOfWork,
    user_id: str,
    fixed: Sequence[pm.FixedEvent],
    timezone: str,
    spans: Sequence[tuple[datetime, datetime]],
    *,
    exclude_ids: Iterable[str] = (),
    code: ErrorCode = ErrorCode.SLOT_CONFLICT,
) -> None:
    """Raise Refused(code) unless every span is non-empty, clear of the others, of fixed event occurrences
    and of the user's blocks (except `exclude_ids`, the blocks being rewritten). Reads the database, not a
    context, so it also sees rows that no base_version covered."""
    excluded = list(exclude_ids)
    for i, (start, end) in enumerate(spans):
        why = None
        if end <= start:
            why = "empty span"
        elif any(s < end and start < e for s, e in spans[i + 1 :]):
            why = "the new places overlap each other"
        elif expand_fixed_events(fixed, timezone, start, end):
            why = "a fixed event"
        elif await uow.blocks.overlapping(user_id, start, end, excluded):
            why = "another block"
        if why is not None:
            raise Refused(code, f"{why} at {start.isoformat()}")


async def fixed_events_of(uow: UnitOfWork, user_id: str) -> tuple[pm.FixedEvent, ...]:
    return tuple(fixed_event(e) for e in await uow.events.for_user(user_id))


def target_spans(changes: Sequence[pm.Change]) -> list[tuple[datetime, datetime]]:
    """Where the blocks of `changes` will be once applied."""
    out: list[tuple[datetime, datetime]] = []
    for c in changes:
        if c.kind in BLOCK_KINDS:
            if c.start is None or c.end is None:
                raise Refused(ErrorCode.SLOT_CONFLICT, f"{c.kind.value} without start/end")
            out.append((c.start, c.end))
    return out


def rewritten_ids(changes: Sequence[pm.Change]) -> set[str]:
    return {c.block_id for c in changes if c.kind != pm.ChangeKind.ADD_BLOCK and c.block_id is not None}


async def write_changes(
    uow: UnitOfWork,
    user: User,
    changes: Sequence[pm.Change],
    now: datetime,
    blocks: list[Block] | None = None,
    *,
    flush: bool = True,
) -> list[dict[str, Any]]:
    """Write `changes` for `user` (blocks flushed before returning, unless `flush` is False: a batch of
    applies flushes them all together) and return the change-set items: {"kind", "block_id" | "day",
    "before", "after"} with row snapshots after the write. The blocks added or moved are appended to
    `blocks` when it is given."""
    items: list[dict[str, Any]] = []
    for c in changes:
        if c.kind == pm.ChangeKind.ADD_BLOCK:
            row = uow.blocks.add(
                Block(
                    user_id=user.id,
                    task_id=c.task_id,
                    start=c.start,
                    end=c.end,
                    source=BlockSource.ASSISTANT,
                    makeup_for=c.makeup_for,
                    locked=False,
                    version=1,
                    created_at=now,
                    updated_at=now,
                )
            )
            items.append({"kind": c.kind.value, "block_id": row.id, "before": None, "row": row})
        elif c.kind in BLOCK_KINDS:
            existing = await uow.blocks.get_for_update(c.block_id or "")
            if (
                existing is None
                or existing.user_id != user.id
                or existing.locked
                or c.old_start is None
                or c.old_end is None
                or not _same_minutes(existing.start, c.old_start)
                or not _same_minutes(existing.end, c.old_end, end=True)
            ):
                raise Refused(ErrorCode.SLOT_CONFLICT, f"block {c.block_id} is not where the preview saw it")
            if c.start is None or c.end is None:
                raise Refused(ErrorCode.SLOT_CONFLICT, f"{c.kind.value} without start/end")
            before = block_snapshot(existing)
            existing.start, existing.end = c.start, c.end
            existing.version += 1
            existing.updated_at = now
            items.append({"kind": c.kind.value, "block_id": existing.id, "before": before, "row": existing})
        else:
            items.append(await _extend_day(uow, user, c, now))
    if flush:
        await uow.flush()
    for item in items:
        row = item.pop("row")
        if isinstance(row, Block) and blocks is not None:
            blocks.append(row)
        item["after"] = block_snapshot(row) if isinstance(row, Block) else extension_snapshot(row)
    return items


async def _extend_day(uow: UnitOfWork, user: User, c: pm.Change, now: datetime) -> dict[str, Any]:
    if c.day is None or c.new_day_end is None:
        raise Refused(ErrorCode.SLOT_CONFLICT, "extend_day without day/new_day_end")
    row = await uow.day_extensions.get_for_day(user.id, c.day)
    current = clock(row.day_end if row is not None else user.day_end)
    if c.old_day_end is not None and current != c.old_day_end:
        raise Refused(ErrorCode.SLOT_CONFLICT, f"day {c.day} no longer ends at {c.old_day_end}")
    new_end = c.new_day_end.strftime("%H:%M")
    if row is None:
        row = uow.day_extensions.add(
            DayExtension(user_id=user.id, day=c.day, day_end=new_end, created_at=now)
        )
        before = None
    else:
        before = extension_snapshot(row)
        row.day_end = new_end
    return {"kind": c.kind.value, "day": c.day.isoformat(), "before": before, "row": row}


# --------------------------------------------------------------------------- undo


def _block_unchanged(b: Block | None, after: dict[str, Any]) -> bool:
    return (
        b is not None
        and b.version == after["version"]
        and b.task_id == after["task_id"]
        and b.locked == after["locked"]
        and b.start == datetime.fromisoformat(after["start"])
        and b.end == datetime.fromisoformat(after["end"])
    )


async def revert(
    uow: UnitOfWork, user: User, items: Sequence[dict[str, Any]], now: datetime
) -> dict[str, Block]:
    """Undo a change set's items, or raise Refused(UNDO_CONFLICT) before writing anything when a row it
    touched changed since (or the restored places are no longer free). Returns the blocks it touched by id
    (the inserted ones deleted, their attributes still readable)."""
    blocks: dict[str, Block] = {}
    extensions: dict[str, DayExtension] = {}
    for item in items:
        after = item["after"]
        if item["kind"] == pm.ChangeKind.EXTEND_DAY:
            x = await uow.day_extensions.get_for_day(user.id, datetime.fromisoformat(item["day"]).date())
            if x is None or x.id != after["id"] or x.day_end != after["day_end"]:
                raise Refused(ErrorCode.UNDO_CONFLICT, f"day extension {item['day']} changed")
            extensions[item["day"]] = x
            continue
        b = await uow.blocks.get_for_update(item["block_id"])
        if b is None or not _block_unchanged(b, after):
            raise Refused(ErrorCode.UNDO_CONFLICT, f"block {item['block_id']} changed")
        blocks[b.id] = b
    inserted = [i["block_id"] for i in items if i["kind"] == pm.ChangeKind.ADD_BLOCK]
    # A block that now repairs an inserted one would silently lose its link: the user built on it.
    if await uow.blocks.any_repairs(inserted):
        raise Refused(ErrorCode.UNDO_CONFLICT, "a later block repairs an inserted one")
    restored = [
        (datetime.fromisoformat(i["before"]["start"]), datetime.fromisoformat(i["before"]["end"]))
        for i in items
        if i["kind"] in (pm.ChangeKind.MOVE_BLOCK, pm.ChangeKind.RESIZE_BLOCK)
    ]
    await ensure_free(
        uow,
        user.id,
        await fixed_events_of(uow, user.id),
        user.timezone,
        restored,
        exclude_ids=blocks.keys(),
        code=ErrorCode.UNDO_CONFLICT,
    )
    for item in items:
        before = item["before"]
        if item["kind"] == pm.ChangeKind.EXTEND_DAY:
            x = extensions[item["day"]]
            if before is None:
                await uow.day_extensions.delete(x)
            else:
                x.day_end = before["day_end"]
        elif item["kind"] == pm.ChangeKind.ADD_BLOCK:
            await uow.blocks.delete(blocks[item["block_id"]])
        else:
            b = blocks[item["block_id"]]
            b.start = datetime.fromisoformat(before["start"])
            b.end = datetime.fromisoformat(before["end"])
            b.version += 1  # versions only grow, so an older snapshot can never match again
            b.updated_at = now
    await uow.flush()
    return blocks
