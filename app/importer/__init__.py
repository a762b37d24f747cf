"""`smartflow import`: validate a whole YAML/JSON file, then upsert users, fixed events, tasks and blocks."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.importer.addresses import Directory
from app.importer.checks import build_plan
from app.importer.errors import ImportErrorCode, ImportRejectedError, Problem
from app.importer.parse import LineMap, parse_text, read_file
from app.importer.persist import (
    ImportSummary,
    Progress,
    SectionCount,
    count_records,
    load_snapshot,
    parse_hhmm,
    write_plan,
)
from app.importer.plan import Defaults
from app.importer.schema import ImportFile
from app.settings import Settings
from scheduler.services import jobs
from store import UnitOfWork

log = logging.getLogger(__name__)

__all__ = [
    "Defaults",
    "Directory",
    "ImportErrorCode",
    "ImportFile",
    "ImportRejectedError",
    "ImportResult",
    "ImportSummary",
    "LineMap",
    "Problem",
    "SectionCount",
    "after_import",
    "count_records",
    "defaults_from_settings",
    "import_document",
    "parse_text",
    "read_file",
]


@dataclass(frozen=True)
class ImportResult:
    summary: ImportSummary
    task_ids: tuple[str, ...]  # tasks created or changed by this import (their jobs need syncing)


def defaults_from_settings(settings: Settings) -> Defaults:
    return Defaults(
        timezone=settings.timezone,
        locale=settings.locale,
        day_start=parse_hhmm(settings.day_start),
        day_end=parse_hhmm(settings.day_end),
    )


async def import_document(
    uow: UnitOfWork,
    doc: ImportFile,
    lines: LineMap,
    defaults: Defaults,
    now: datetime,
    *,
    progress: Progress | None = None,
) -> ImportResult:
    """Check the whole document against the database, then write it inside `uow` (the caller commits).

    Raises ImportRejectedError, having written nothing, when any record is wrong.

    Shape (extra fields are an error; see app.importer.schema): `users`, `fixed_events`, `tasks`, `blocks`.
    Required: users[].open_id; `user` and `title` (events, tasks); `key` and `estimate_minutes` (tasks);
    `task` (blocks); and the times. Omitted values take the defaults: a user's timezone,
    locale and day window come from settings (SMARTFLOW_TIMEZONE, _LOCALE, _DAY_START, _DAY_END), name
    defaults to the open_id, admin to false (SMARTFLOW_ADMINS is read live, never copied into the role); a
    task's quadrant
    defaults to 2 (important, not urgent) and its status to open; a block is unlocked. A record describes
    the whole row: re-importing with a field removed resets it to its default. Naive date-times are
    wall-clock times in the user's time zone.

    Identity (what makes a re-import update instead of insert): users by open_id, tasks by (user, key),
    fixed events by (user, key) or else (user, title, start) / (user, title, weekday, weekly start),
    blocks by (user, key) or else (user, task, start). An import never deletes anything."""
    snap = await load_snapshot(uow, doc)
    plan = build_plan(doc, lines, snap.existing, defaults, now)
    summary, task_ids = await write_plan(uow, plan, snap, now, progress)
    log.info("import wrote %d task(s)", len(task_ids))
    return ImportResult(summary=summary, task_ids=tuple(task_ids))


async def after_import(uow: UnitOfWork, task_ids: Sequence[str], now: datetime) -> None:
    """Run in the import's transaction, before commit, for every task the import created or changed: its
    job is upserted (threshold set or moved) or canceled (done, canceled, threshold removed)."""
    await uow.flush()
    for task in await uow.tasks.list_by_ids(task_ids):
        await jobs.sync_job(uow, task, now)
