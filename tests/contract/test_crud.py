"""Store contract: rows round-trip unchanged on every backend; the unit of work owns the transaction."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError, StatementError

from store import Store, StoreError, StoreErrorCode
from store.enums import BlockSource, TaskStatus, TriggerStatus
from store.models import DayExtension, FixedEvent, Preview, Task, User
from tests.contract import factories as f


async def test_user_and_task_round_trip_in_utc(store: Store, now: datetime) -> None:
    deadline = datetime(2026, 11, 30, 18, 0, 0, 123456, tzinfo=timezone(timedelta(hours=8)))
    async with store.uow() as uow:
        user = uow.users.add(f.user(now, "ou_alice", name="Alice 爱丽丝", quiet_start="22:30"))
        await uow.flush()
        task = uow.tasks.add(
            f.task(
                now,
                user.id,
                key="report",
                deadline=deadline,
                urgency_threshold_at=deadline - timedelta(hours=9),
            )
        )
        await uow.commit()
        assert len(user.id) == 32
        assert task.status == TaskStatus.OPEN
        assert task.version == 1

    async with store.uow(readonly=True) as uow:
        loaded_user = await uow.users.get_by_open_id("ou_alice")
        assert loaded_user is not None
        assert (loaded_user.name, loaded_user.locale, loaded_user.role) == ("Alice 爱丽丝", "zh", "user")
        assert (loaded_user.day_start, loaded_user.day_end, loaded_user.quiet_start) == (
            "08:00",
            "22:30",
            "22:30",
        )
        loaded = await uow.tasks.get_by_key(loaded_user.id, "report")
        assert loaded is not None
        assert loaded.title == "实验报告"
        assert loaded.deadline == deadline
        assert loaded.deadline is not None
        assert loaded.deadline.tzinfo is UTC
        assert loaded.deadline.hour == 10
        assert loaded.deadline.microsecond == 123456
        assert loaded.created_at == now
        assert [t.id for t in await uow.tasks.for_user(loaded_user.id, [TaskStatus.OPEN])] == [loaded.id]
        assert await uow.tasks.for_user(loaded_user.id, [TaskStatus.DONE]) == []


async def test_naive_datetime_is_refused(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        uow.users.add(
            User(open_id="ou_n", name="N", timezone="UTC", created_at=datetime(2026, 1, 1), updated_at=now)
        )
        with pytest.raises(StatementError, match="naive"):
            await uow.flush()


async def test_fixed_events_one_off_and_weekly(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        await uow.flush()
        uow.events.add(
            FixedEvent(
                user_id=user.id,
                title="高等数学",
                start=now,
                end=now + timedelta(minutes=95),
                created_at=now,
                updated_at=now,
            )
        )
        uow.events.add(
            FixedEvent(
                user_id=user.id,
                key="english",
                title="English",
                weekday=2,
                local_start="10:15",
                local_end="11:55",
                valid_from=date(2026, 9, 1),
                valid_until=date(2027, 1, 15),
                created_at=now + timedelta(seconds=1),
                updated_at=now,
            )
        )
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        events = await uow.events.for_user(user.id)
        assert [e.title for e in events] == ["高等数学", "English"]
        assert events[0].end == now + timedelta(minutes=95)
        weekly = await uow.events.get_by_key(user.id, "english")
        assert weekly is not None
        assert (weekly.weekday, weekly.local_start, weekly.valid_until) == (2, "10:15", date(2027, 1, 15))
        assert weekly.start is None


async def test_blocks_overlapping_is_half_open_and_honours_exclusions(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        other = uow.users.add(f.user(now))
        await uow.flush()
        task = uow.tasks.add(f.task(now, user.id))
        other_task = uow.tasks.add(f.task(now, other.id))
        await uow.flush()
        a = uow.blocks.add(f.block(now, user.id, task.id, now, 60, source=BlockSource.IMPORT))
        b = uow.blocks.add(f.block(now, user.id, task.id, now + timedelta(hours=2), 30, locked=True))
        uow.blocks.add(f.block(now, other.id, other_task.id, now, 60))
        await uow.commit()

    async with store.uow(readonly=True) as uow:
        hour = timedelta(hours=1)
        assert [x.id for x in await uow.blocks.overlapping(user.id, now - hour, now + 3 * hour)] == [
            a.id,
            b.id,
        ]
        # Touching ends do not overlap: [now+1h, now+2h) meets a at its end and b at its start.
        assert await uow.blocks.overlapping(user.id, now + hour, now + 2 * hour) == []
        hit = await uow.blocks.overlapping(
            user.id, now + timedelta(minutes=59), now + 3 * hour, exclude_ids=[b.id]
        )
        assert [x.id for x in hit] == [a.id]
        loaded = await uow.blocks.get(b.id)
        assert loaded is not None
        assert (loaded.locked, loaded.source, loaded.version) == (True, "user", 1)
        assert [x.id for x in await uow.blocks.for_task(task.id)] == [a.id, b.id]


async def test_json_columns_round_trip(store: Store, now: datetime) -> None:
    candidates = [
        {"id": "c1", "blocks": [{"start": "2026-11-30T19:00:00+08:00", "title": "报告"}], "score": 0.5}
    ]
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        await uow.flush()
        trig = uow.triggers.add(f.trigger(now, user.id))
        await uow.flush()
        prev = uow.previews.add(f.preview(now, user.id, trig.id, candidates=candidates, issues=["overload"]))
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        loaded = await uow.previews.get_by_trigger(trig.id)
        assert loaded is not None
        assert loaded.id == prev.id
        assert loaded.candidates == candidates
        assert loaded.issues == ["overload"]
        assert loaded.apply_status == "none"
        assert loaded.apply_result is None
        # None is SQL NULL, not the JSON literal null, so IS NULL queries work.
        nulls = await uow.session.scalars(select(Preview.id).where(Preview.apply_result.is_(None)))
        assert list(nulls) == [prev.id]


async def test_leaving_without_commit_rolls_back(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        uow.users.add(f.user(now, "ou_gone"))
        await uow.flush()
        assert await uow.users.get_by_open_id("ou_gone") is not None

    async def fail_midway() -> None:
        async with store.uow() as uow:
            uow.users.add(f.user(now, "ou_boom"))
            await uow.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()
    async with store.uow(readonly=True) as uow:
        assert await uow.users.get_by_open_id("ou_gone") is None
        assert await uow.users.get_by_open_id("ou_boom") is None


async def test_readonly_unit_cannot_commit(store: Store, now: datetime) -> None:
    async with store.uow(readonly=True) as uow:
        uow.users.add(f.user(now, "ou_ro"))
        with pytest.raises(StoreError) as info:
            await uow.commit()
        assert info.value.code == StoreErrorCode.READ_ONLY
    async with store.uow(readonly=True) as uow:
        assert await uow.users.get_by_open_id("ou_ro") is None


async def test_database_rejects_invalid_values(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        await uow.commit()
    for bad in ({"quadrant": 7}, {"status": "maybe"}):
        async with store.uow() as uow:
            uow.tasks.add(f.task(now, user.id, **bad))
            # MariaDB reports CHECK failures (errno 4025) as OperationalError, SQLite as IntegrityError.
            with pytest.raises((IntegrityError, OperationalError)):
                await uow.flush()
    async with store.uow() as uow:
        uow.tasks.add(f.task(now, "0" * 32))  # no such user
        with pytest.raises(IntegrityError):
            await uow.flush()


async def test_task_key_unique_per_user_and_day_extension_unique_per_day(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        alice = uow.users.add(f.user(now))
        bob = uow.users.add(f.user(now))
        await uow.flush()
        assert await uow.tasks.add_if_absent(f.task(now, alice.id, key="report"))
        assert await uow.tasks.add_if_absent(f.task(now, bob.id, key="report"))
        assert not await uow.tasks.add_if_absent(f.task(now, alice.id, key="report"))
        # Keys are case-sensitive on every backend (binary collation on MySQL).
        assert await uow.tasks.add_if_absent(f.task(now, alice.id, key="Report"))
        assert await uow.tasks.add_if_absent(f.task(now, alice.id))  # NULL keys never collide
        assert await uow.tasks.add_if_absent(f.task(now, alice.id))
        ext = DayExtension(user_id=alice.id, day=date(2026, 11, 30), day_end="23:30", created_at=now)
        assert await uow.day_extensions.add_if_absent(ext)
        dup = DayExtension(user_id=alice.id, day=date(2026, 11, 30), day_end="23:45", created_at=now)
        assert not await uow.day_extensions.add_if_absent(dup)
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        assert len(await uow.tasks.for_user(alice.id)) == 4
        found = await uow.day_extensions.get_for_day(alice.id, date(2026, 11, 30))
        assert found is not None
        assert found.day_end == "23:30"
        assert len(await uow.day_extensions.between(alice.id, date(2026, 11, 29), date(2026, 12, 1))) == 1


async def test_get_for_update_reloads_a_stale_row(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        await uow.flush()
        task = uow.tasks.add(f.task(now, user.id))
        await uow.commit()
    async with store.uow() as uow:
        stale = await uow.tasks.get(task.id)
        assert stale is not None
        # A bulk UPDATE bypasses the identity map, like a change made by another writer.
        await uow.session.execute(
            update(Task).where(Task.id == task.id).values(version=2),
            execution_options={"synchronize_session": False},
        )
        assert (await uow.tasks.get(task.id)) is stale
        assert stale.version == 1
        fresh = await uow.tasks.get_for_update(task.id)
        assert fresh is stale
        assert fresh.version == 2


async def test_trigger_transition_releases_dedupe_key(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        user = uow.users.add(f.user(now))
        await uow.flush()
        first = f.trigger(now, user.id, dedupe_key="due:task1")
        assert await uow.triggers.add_if_absent(first)
        assert not await uow.triggers.add_if_absent(f.trigger(now, user.id, dedupe_key="due:task1"))
        uow.triggers.transition(first, TriggerStatus.PROCESSING, now)
        assert first.dedupe_key == "due:task1"
        uow.triggers.transition(first, TriggerStatus.CLOSED, now + timedelta(minutes=1), error_code="none")
        await uow.commit()
    async with store.uow() as uow:
        assert await uow.triggers.find_by_dedupe("due:task1") is None
        second = f.trigger(now, user.id, dedupe_key="due:task1")
        assert await uow.triggers.add_if_absent(second)
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        live = await uow.triggers.find_by_dedupe("due:task1")
        assert live is not None
        assert live.id == second.id
        closed = await uow.triggers.get(first.id)
        assert closed is not None
        assert (closed.status, closed.dedupe_key, closed.error_code) == ("closed", None, "none")
        assert len(await uow.triggers.recent_for_user(user.id)) == 2


async def test_outbox_audit_and_inbox_bookkeeping(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        msg = uow.outbox.put("preview.ready", {"preview_id": "p1"}, now)
        uow.audit.log("ou_admin", "dry_run", target="ou_alice", outcome="ok", now=now, detail={"n": 1})
        assert await uow.inbox.record("event", "evt-1", "im.message.receive_v1", now)
        assert await uow.inbox.mark("evt-1", "processed", now + timedelta(seconds=1))
        assert not await uow.inbox.mark("evt-unknown", "processed", now)
        await uow.commit()
    async with store.uow(readonly=True) as uow:
        loaded = await uow.outbox.get(msg.id)
        assert loaded is not None
        assert (loaded.status, loaded.payload, loaded.available_at) == ("pending", {"preview_id": "p1"}, now)
        entries = await uow.audit.recent()
        assert [(a.actor, a.action, a.detail) for a in entries] == [("ou_admin", "dry_run", {"n": 1})]
        entry = await uow.inbox.get_by_key("evt-1")
        assert entry is not None
        assert (entry.status, entry.processed_at) == ("processed", now + timedelta(seconds=1))


async def test_readers_do_not_wait_for_an_open_writer(store: Store, now: datetime) -> None:
    async with store.uow() as uow:
        uow.users.add(f.user(now, "ou_before"))
        await uow.commit()

    async def read_open_ids() -> list[str]:
        async with store.uow(readonly=True) as reader:
            return [u.open_id for u in await reader.users.list_all()]

    async with store.uow() as writer:
        writer.users.add(f.user(now, "ou_pending"))
        await writer.flush()  # the writer now holds SQLite's write lock / MySQL row locks
        # A reader that took the write lock (BEGIN IMMEDIATE) would wait here until the writer ends,
        # and the writer waits for the reader: the timeout turns that deadlock into a failure.
        seen = await asyncio.wait_for(read_open_ids(), timeout=20)
        await writer.commit()
    assert seen == ["ou_before"]
