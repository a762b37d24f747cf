"""Seed real rows and a ready preview planned by the real engine on the real context (for apply tests)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from scheduler.planning import base_version, plan, texts
from scheduler.planning import model as pm
from scheduler.services.codec import encode_candidate
from scheduler.services.context import context_for_trigger
from store import Store
from store.enums import TriggerStatus, TriggerType
from store.models import Base, FixedEvent, Preview
from tests.contract import factories as f

TZ = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 30) -> datetime:
    """A local instant on 2026-11-<day> (Asia/Shanghai)."""
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@dataclass(frozen=True)
class Seeded:
    user_id: str
    open_id: str
    tasks: dict[str, str]  # name -> task id
    blocks: dict[str, str]  # name -> block id


@dataclass(frozen=True)
class Ready:
    preview_id: str
    trigger_id: str
    candidates: tuple[pm.Candidate, ...]  # ranked, as stored

    def of_type(self, ctype: pm.CandidateType) -> pm.Candidate:
        return next(c for c in self.candidates if c.type == ctype)


async def seed(
    store: Store,
    now: datetime,
    *,
    tasks: dict[str, dict[str, Any]],
    blocks: dict[str, tuple[str, datetime, datetime]] | None = None,
    fixed: Sequence[tuple[datetime, datetime]] = (),
    open_id: str | None = None,
    **user_kw: Any,
) -> Seeded:
    """A user with tasks (name -> Task columns), blocks (name -> (task name, start, end)) and one-off fixed
    events, committed."""
    async with store.uow() as uow:
        user = uow.users.add(f.user(now, open_id, **user_kw))
        task_ids: dict[str, str] = {}
        for name, cols in tasks.items():
            task = uow.tasks.add(f.task(now, user.id, key=name, **cols))
            task_ids[name] = task.id
        block_ids: dict[str, str] = {}
        for name, (task_name, start, end) in (blocks or {}).items():
            minutes = int((end - start).total_seconds() // 60)
            row = uow.blocks.add(f.block(now, user.id, task_ids[task_name], start, minutes, key=name))
            block_ids[name] = row.id
        for i, (start, end) in enumerate(fixed):
            uow.events.add(
                FixedEvent(
                    user_id=user.id,
                    key=f"ev{i}",
                    title="课程",
                    start=start,
                    end=end,
                    created_at=now,
                    updated_at=now,
                )
            )
        await uow.commit()
    return Seeded(user.id, user.open_id, task_ids, block_ids)


async def ready_preview(
    store: Store,
    seeded: Seeded,
    now: datetime,
    *,
    task: str | None = None,
    block: str | None = None,
    remaining_minutes: int | None = None,
    ttl: timedelta = timedelta(hours=1),
    grid_minutes: int = 15,
) -> Ready:
    """A trigger (due job for `task`, or unfinished feedback for `block`) planned the way the pipeline
    plans it: context_for_trigger -> plan -> candidates encoded with the codec, base_version of that
    context, committed as a ready preview."""
    async with store.uow() as uow:
        user = await uow.users.get(seeded.user_id)
        assert user is not None
        feedback = block is not None
        trigger = uow.triggers.add(
            f.trigger(
                now,
                user.id,
                type=TriggerType.USER_FEEDBACK if feedback else TriggerType.WORKER_DUE_JOB,
                task_id=seeded.tasks[task] if task else None,
                block_id=seeded.blocks[block] if block else None,
                remaining_minutes=remaining_minutes,
                status=TriggerStatus.PREVIEW_GENERATED,
            )
        )
        await uow.flush()
        ctx = await context_for_trigger(uow, user, trigger, grid_minutes)
        result = plan(ctx)
        assert result.observation.decision == pm.Decision.PROPOSE, result.observation
        stored = []
        for c in result.candidates:
            before, after = texts.before_after(c, ctx)
            stored.append(
                encode_candidate(c, summary=texts.candidate_summary(c, ctx), before=before, after=after)
            )
        target_task = (
            seeded.tasks[task] if task else next(b.task_id for b in ctx.blocks if b.id == trigger.block_id)
        )
        preview = uow.previews.add(
            Preview(
                trigger_id=trigger.id,
                user_id=user.id,
                task_id=target_task,
                decision=result.observation.decision.value,
                candidates=stored,
                chosen_candidate_id=result.candidates[0].id,
                metrics=dataclasses.asdict(result.observation.metrics),
                issues=[{"code": i.code} for i in result.observation.issues],
                base_version=base_version(ctx),
                expires_at=now + ttl,
                created_at=now,
                updated_at=now,
            )
        )
        await uow.commit()
    return Ready(preview.id, trigger.id, result.candidates)


# --------------------------------------------------------------------------- whole-database snapshots

VOLATILE_PREVIEW = ("apply_status", "apply_error", "updated_at")


async def snapshot(store: Store, *, ignore_preview_error: bool = False) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted; optionally without the preview columns a rejection may record."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    async with store.uow(readonly=True) as uow:
        for table in Base.metadata.sorted_tables:
            cols = [
                c
                for c in table.columns
                if not (ignore_preview_error and table.name == "previews" and c.name in VOLATILE_PREVIEW)
            ]
            rows = (await uow.session.execute(sa.select(*cols))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


async def rows(store: Store, model: type[Base], **where: Any) -> list[Any]:
    async with store.uow(readonly=True) as uow:
        stmt = sa.select(model).filter_by(**where)
        found = list((await uow.session.scalars(stmt)).all())
        uow.session.expunge_all()  # keep the loaded values: leaving the unit rolls back, which expires them
        return found


async def add_block(
    store: Store, seeded: Seeded, task: str, start: datetime, end: datetime, now: datetime
) -> str:
    """A block written the way a user's /add or an import would: a plain insert, committed."""
    async with store.uow() as uow:
        minutes = int((end - start).total_seconds() // 60)
        row = uow.blocks.add(f.block(now, seeded.user_id, seeded.tasks[task], start, minutes))
        await uow.commit()
        return row.id


# --------------------------------------------------------------------------- scenarios


async def place_scenario(store: Store, now: datetime, **user_kw: Any) -> tuple[Seeded, Ready]:
    """09:00, a 90-minute urgent task due 20:00, a class 10:00-12:00: three place_task options
    (12:00, 13:30, 15:00), each one add_block."""
    seeded = await seed(
        store,
        now,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 90, "deadline": at(20)}},
        fixed=[(at(10), at(12))],
        **user_kw,
    )
    return seeded, await ready_preview(store, seeded, now, task="report")


async def push_scenario(store: Store, now: datetime) -> tuple[Seeded, Ready]:
    """10:00, block A 09:00-10:00 reported unfinished (45 min left), B 10:15-11:00 and C 11:00-12:00 after it,
    a class 12:30-22:30: the top option adds the make-up at 10:00 and moves B and C later."""
    seeded = await seed(
        store,
        now,
        tasks={
            "report": {"quadrant": 1, "estimate_minutes": 60, "deadline": at(23)},
            "b": {"quadrant": 2, "estimate_minutes": 60},
            "c": {"quadrant": 2, "estimate_minutes": 60},
        },
        blocks={"A": ("report", at(9), at(10)), "B": ("b", at(10, 15), at(11)), "C": ("c", at(11), at(12))},
        fixed=[(at(12, 30), at(22, 30))],
    )
    return seeded, await ready_preview(store, seeded, now, block="A", remaining_minutes=45)


async def extend_scenario(store: Store, now: datetime) -> tuple[Seeded, Ready]:
    """20:00, block A 19:00-20:00 unfinished, a class 20:00-21:00, block B 21:00-22:00, day ends 22:30: the
    top option extends the day to 22:45 and places the make-up 22:00-22:45."""
    seeded = await seed(
        store,
        now,
        tasks={
            "report": {"quadrant": 1, "estimate_minutes": 60, "deadline": at(23, 30)},
            "b": {"quadrant": 2, "estimate_minutes": 60},
        },
        blocks={"A": ("report", at(19), at(20)), "B": ("b", at(21), at(22))},
        fixed=[(at(20), at(21))],
    )
    return seeded, await ready_preview(store, seeded, now, block="A", remaining_minutes=45)
