"""create_trigger: dedupe by 30-minute bucket, idempotency keys, feedback message ids, mocked now."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.triggers import TriggerOutcome, create_trigger
from store import Store, UnitOfWork
from store.enums import TriggerStatus, TriggerType
from store.models import Trigger, User
from tests.contract.services.builders import Seeded, at, seed

N = 12


@pytest.fixture
async def seeded(store: Store, now: datetime) -> Seeded:
    return await seed(store, now, tasks={"report": {"quadrant": 1}, "other": {"quadrant": 1}})


async def _user(uow: UnitOfWork, seeded: Seeded) -> User:
    user = await uow.users.get(seeded.user_id)
    assert user is not None
    return user


async def create(store: Store, seeded: Seeded, **kw: object) -> TriggerOutcome:
    async with store.uow() as uow:
        user = await _user(uow, seeded)
        outcome = await create_trigger(uow, user=user, **kw)  # type: ignore[arg-type]
        await uow.commit()
        return outcome


async def count_triggers(store: Store) -> int:
    async with store.uow(readonly=True) as uow:
        return int((await uow.session.execute(select(func.count()).select_from(Trigger))).scalar_one())


async def finish(store: Store, trigger_id: str, status: TriggerStatus, now: datetime) -> None:
    async with store.uow() as uow:
        row = await uow.triggers.get(trigger_id)
        assert row is not None
        uow.triggers.transition(row, status, now)
        await uow.commit()


async def test_due_job_repeat_in_the_same_bucket_is_a_dedupe_hit(store: Store, seeded: Seeded) -> None:
    task = seeded.tasks["report"]
    first = await create(store, seeded, type=TriggerType.WORKER_DUE_JOB, now=at(9, 1), task_id=task)
    again = await create(store, seeded, type=TriggerType.WORKER_DUE_JOB, now=at(9, 29), task_id=task)
    assert first.created
    assert first.hit is None
    assert not again.created
    assert again.hit == "dedupe"
    assert again.trigger.id == first.trigger.id
    assert await count_triggers(store) == 1
    # Another task, another type, or the next bucket are different triggers.
    other = await create(
        store, seeded, type=TriggerType.WORKER_DUE_JOB, now=at(9, 2), task_id=seeded.tasks["other"]
    )
    admin = await create(store, seeded, type=TriggerType.ADMIN_TRIGGER, now=at(9, 2), task_id=task)
    later = await create(store, seeded, type=TriggerType.WORKER_DUE_JOB, now=at(9, 30), task_id=task)
    assert other.created
    assert admin.created
    assert later.created
    assert await count_triggers(store) == 4


@pytest.mark.parametrize(
    ("status", "hit"),
    [
        (TriggerStatus.PROCESSING, True),
        (TriggerStatus.PREVIEW_GENERATED, True),
        (TriggerStatus.CLOSED, False),
        (TriggerStatus.FAILED, False),
        (TriggerStatus.REJECTED, False),
    ],
)
async def test_dedupe_holds_only_while_the_earlier_trigger_is_live(
    store: Store, seeded: Seeded, now: datetime, status: TriggerStatus, hit: bool
) -> None:
    task = seeded.tasks["report"]
    first = await create(store, seeded, type=TriggerType.WORKER_DUE_JOB, now=now, task_id=task)
    await finish(store, first.trigger.id, status, now)
    again = await create(
        store, seeded, type=TriggerType.WORKER_DUE_JOB, now=now + timedelta(minutes=5), task_id=task
    )
    assert again.created is not hit
    assert (again.trigger.id == first.trigger.id) is hit


async def test_idempotency_key_returns_the_trigger_in_any_state(
    store: Store, seeded: Seeded, now: datetime
) -> None:
    task = seeded.tasks["report"]
    first = await create(
        store, seeded, type=TriggerType.ADMIN_TRIGGER, now=now, task_id=task, idempotency_key="cmd-1"
    )
    await finish(store, first.trigger.id, TriggerStatus.FAILED, now)
    # Hours later, in another bucket, with a final trigger: still the same one.
    again = await create(
        store,
        seeded,
        type=TriggerType.ADMIN_TRIGGER,
        now=now + timedelta(hours=5),
        task_id=task,
        idempotency_key="cmd-1",
    )
    assert (again.created, again.hit, again.trigger.id) == (False, "idempotency", first.trigger.id)
    assert again.trigger.status == TriggerStatus.FAILED
    fresh = await create(
        store,
        seeded,
        type=TriggerType.ADMIN_TRIGGER,
        now=now + timedelta(hours=5),
        task_id=task,
        idempotency_key="cmd-2",
    )
    assert fresh.created


async def test_feedback_is_keyed_by_the_message_id(store: Store, seeded: Seeded, now: datetime) -> None:
    kw = {"type": TriggerType.USER_FEEDBACK, "task_id": seeded.tasks["report"], "remaining_minutes": 30}
    first = await create(store, seeded, now=now, source_message_id="om_1", **kw)
    redelivered = await create(store, seeded, now=now + timedelta(minutes=1), source_message_id="om_1", **kw)
    second_message = await create(
        store, seeded, now=now + timedelta(minutes=2), source_message_id="om_2", **kw
    )
    assert first.created
    assert first.trigger.dedupe_key is None
    assert (redelivered.created, redelivered.hit, redelivered.trigger.id) == (
        False,
        "message",
        first.trigger.id,
    )
    # Feedback is not bucketed: a second message about the same task is a second report.
    assert second_message.created
    assert first.trigger.remaining_minutes == 30


@pytest.mark.parametrize("kind", [TriggerType.WORKER_DUE_JOB, TriggerType.USER_FEEDBACK])
async def test_only_dry_runs_and_admin_triggers_may_mock_now(
    store: Store, seeded: Seeded, now: datetime, kind: TriggerType
) -> None:
    with pytest.raises(ServiceError) as info:
        await create(store, seeded, type=kind, now=now, task_id=seeded.tasks["report"], mocked_now=at(15))
    assert info.value.code == ErrorCode.MOCKED_NOW_NOT_ALLOWED
    assert await count_triggers(store) == 0


async def test_mocked_now_is_recorded_and_drives_the_bucket(
    store: Store, seeded: Seeded, now: datetime
) -> None:
    task = seeded.tasks["report"]
    first = await create(
        store, seeded, type=TriggerType.ADMIN_TRIGGER, now=now, task_id=task, mocked_now=at(15, 5)
    )
    assert first.trigger.mocked_now == at(15, 5)
    assert first.trigger.effective_now == at(15, 5)
    # Real time moved to another bucket, the mocked time did not: the same trigger.
    same = await create(
        store,
        seeded,
        type=TriggerType.ADMIN_TRIGGER,
        now=now + timedelta(hours=1),
        task_id=task,
        mocked_now=at(15, 20),
    )
    other = await create(
        store, seeded, type=TriggerType.ADMIN_TRIGGER, now=now, task_id=task, mocked_now=at(15, 35)
    )
    assert same.hit == "dedupe"
    assert same.trigger.id == first.trigger.id
    assert other.created
    dry = await create(store, seeded, type=TriggerType.DRY_RUN, now=now, task_id=task, mocked_now=at(18))
    assert dry.created
    assert dry.trigger.mocked_now == at(18)
    plain = await create(store, seeded, type=TriggerType.WORKER_DUE_JOB, now=now, task_id=task)
    assert plain.trigger.mocked_now is None
    assert plain.trigger.effective_now == now


# --------------------------------------------------------------------------- races


@pytest.fixture
async def wide_store(db_url: str) -> AsyncIterator[Store]:
    """A store whose pool holds a connection for every racer, so all N really run at once."""
    instance = Store(db_url, pool_size=N + 2, max_overflow=0)
    try:
        yield instance
    finally:
        await instance.dispose()


async def race(store: Store, seeded: Seeded, **kw: object) -> list[TriggerOutcome]:
    # On MySQL every racer opens its transaction first and waits for the others, so the inserts collide
    # inside the database; SQLite admits one writer at a time (BEGIN IMMEDIATE), a barrier would deadlock.
    barrier = asyncio.Barrier(N) if store.backend == "mysql" else None

    async def one() -> TriggerOutcome:
        async with store.uow() as uow:
            if barrier is not None:
                await uow.session.connection()
                await barrier.wait()
            user = await _user(uow, seeded)
            outcome = await create_trigger(uow, user=user, **kw)  # type: ignore[arg-type]
            await uow.commit()
            return outcome

    return list(await asyncio.gather(*(one() for _ in range(N))))


@pytest.mark.parametrize(
    "keys",
    [
        {"type": TriggerType.WORKER_DUE_JOB},
        {"type": TriggerType.ADMIN_TRIGGER, "idempotency_key": "admin-7"},
        {"type": TriggerType.USER_FEEDBACK, "source_message_id": "om_race"},
    ],
    ids=["dedupe", "idempotency", "message"],
)
async def test_concurrent_requests_make_one_trigger(
    wide_store: Store, now: datetime, keys: dict[str, object]
) -> None:
    seeded = await seed(wide_store, now, tasks={"report": {"quadrant": 1}})
    outcomes = await race(wide_store, seeded, now=now, task_id=seeded.tasks["report"], **keys)
    assert sum(o.created for o in outcomes) == 1
    assert len({o.trigger.id for o in outcomes}) == 1
    assert {o.hit for o in outcomes if not o.created} <= {"dedupe", "idempotency", "message"}
    assert await count_triggers(wide_store) == 1
