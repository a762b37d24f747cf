"""After an import no block may overlap a fixed event or another block of its user; clashes name a record."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from app.importer.plan import BlockRow, EventRow, Existing, Identity

R = TypeVar("R", BlockRow, EventRow)

# add(loc, message): record a problem at e.g. ("blocks", 3, "start").
AddProblem = Callable[[tuple[str | int, ...], str], None]


def check_overlaps(  # noqa: PLR0917
    blocks: list[BlockRow],
    events: list[EventRow],
    existing: Existing,
    timezones: dict[str, str],
    now: datetime,
    add: AddProblem,
    moved_users: dict[str, int] | None = None,
) -> None:
    """Check the schedule as it will be after the import, for every user the file gives blocks or events
    and every user whose time zone it changes (`moved_users`: open_id -> index in users).

    Every clash involves at least one file record and is reported on it (a new time zone moves the stored
    weekly events against the stored blocks: that clash is reported on the user's timezone). Stored blocks
    that ended before `now` are history (assumed done) and do not stop a new timetable from being imported
    over them."""
    moved = moved_users or {}
    block_at = {(b.user, b.identity): i for i, b in enumerate(blocks)}
    event_at = {(e.user, e.identity): i for i, e in enumerate(events)}
    for user in sorted({b.user for b in blocks} | {e.user for e in events} | set(moved)):
        tz = ZoneInfo(timezones[user])
        file_events = [e for e in events if e.user == user]
        file_blocks = [b for b in blocks if b.user == user]
        all_events = _keep(existing.events.get(user, ()), file_events) + file_events
        stored = _keep(existing.blocks.get(user, ()), file_blocks)

        def where(b: BlockRow, user: str = user) -> tuple[str, int | None]:
            i = block_at.get((user, b.identity))
            return (f"blocks[{i}]", i) if i is not None else (f"a stored block of task {b.task_key!r}", None)

        for b in file_blocks + [b for b in stored if b.end > now]:
            _, bi = where(b)
            for e in all_events:
                ei = event_at.get((user, e.identity))
                if bi is None and ei is None and user not in moved:
                    continue
                hit = next(
                    (s for s in event_spans(e, b.start, b.end, tz) if s[0] < b.end and b.start < s[1]), None
                )
                if hit is None:
                    continue
                if bi is None and ei is None:
                    add(
                        ("users", moved[user], "timezone"),
                        f"in {timezones[user]} fixed event {e.title!r} would overlap {where(b)[0]} "
                        f"at {_local(hit[0], tz)}",
                    )
                    continue
                if bi is not None:
                    add(("blocks", bi, "start"), f"overlaps fixed event {e.title!r} at {_local(hit[0], tz)}")
                    break
                assert ei is not None
                field = "weekly" if e.weekday is not None else "start"
                add(("fixed_events", ei, field), f"overlaps {where(b)[0]} at {_local(b.start, tz)}")

        latest: BlockRow | None = None
        for b in sorted([*stored, *file_blocks], key=lambda b: (b.start, b.end)):
            if latest is not None and b.start < latest.end:
                # Blame the block that comes from the file (the later one when both do).
                culprit, other = (b, latest) if where(b)[1] is not None else (latest, b)
                ci = where(culprit)[1]
                if ci is not None:
                    add(("blocks", ci, "start"), f"overlaps {where(other)[0]}")
            if latest is None or b.end > latest.end:
                latest = b


def _local(instant: datetime, tz: ZoneInfo) -> str:
    return instant.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _keep(stored: tuple[R, ...], replacing: list[R]) -> list[R]:
    """Stored rows the file does not replace (same identity)."""
    replaced: set[Identity] = {r.identity for r in replacing}
    return [r for r in stored if r.identity not in replaced]


def event_spans(e: EventRow, lo: datetime, hi: datetime, tz: ZoneInfo) -> Iterator[tuple[datetime, datetime]]:
    """The event's occurrences that may touch [lo, hi); weekly events are expanded on local dates."""
    if e.start is not None and e.end is not None:
        yield e.start, e.end
        return
    assert e.weekday is not None
    assert e.local_start is not None
    assert e.local_end is not None
    day = lo.astimezone(tz).date() - timedelta(days=1)
    last = hi.astimezone(tz).date()
    while day <= last:
        in_range = (e.valid_from is None or day >= e.valid_from) and (
            e.valid_until is None or day <= e.valid_until
        )
        if day.isoweekday() == e.weekday and in_range:
            start = datetime.combine(day, e.local_start, tzinfo=tz).astimezone(UTC)
            end = datetime.combine(day, e.local_end, tzinfo=tz).astimezone(UTC)
            yield start, end
        day += timedelta(days=1)
