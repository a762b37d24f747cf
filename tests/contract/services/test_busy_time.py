"""Feishu busy time: read with the app's token over real HTTP from the fake Feishu, kept per user with its
read time, planned around as untitled busy time, re-read when older than the maximum age, checked at Apply."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta

import pytest

from bot.feishu.calendar import FeishuBusyReader
from bot.feishu.client import FeishuClient
from llm.api import FallbackChooser
from scheduler.services import conflicts
from scheduler.services.apply import apply
from scheduler.services.calendar import BusyTimes
from scheduler.services.codec import decode_candidate
from scheduler.services.errors import ErrorCode
from scheduler.services.jobs import process_due_jobs
from scheduler.services.outcomes import ApplyOutcome
from scheduler.services.pipeline import Pipeline
from scheduler.services.views import preview_view
from store import Store
from store.enums import TriggerType
from store.models import Base, Block, BusyTime, CalendarRead, ChangeSet, Preview, Trigger
from tests.contract.services.builders import Seeded, at, rows, seed, snapshot
from tests.contract.worker.conftest import seed_due_job
from tests.fakes.fake_feishu import FakeFeishu, Fault, serve_fake_feishu
from tests.statements import count_statements

CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard: nothing listens on loopback port 9 here


@pytest.fixture
def feishu() -> Iterator[tuple[FakeFeishu, str]]:
    with serve_fake_feishu() as served:
        yield served


@pytest.fixture
async def client(feishu: tuple[FakeFeishu, str]) -> AsyncIterator[FeishuClient]:
    fake, url = feishu
    async with FeishuClient(fake.app_id, fake.app_secret, domain=url, timeout_seconds=5) as c:
        yield c


def busy_times(store: Store, client: FeishuClient, max_age_minutes: float = 5) -> BusyTimes:
    return BusyTimes(store, FeishuBusyReader(client), max_age=timedelta(minutes=max_age_minutes))


async def urgent(store: Store, now: datetime) -> Seeded:
    """09:00: a 90-minute task due 20:00, an imported class 10:00-12:00 (the planner's first pick: 12:00)."""
    return await seed(
        store,
        now,
        tasks={"report": {"quadrant": 1, "estimate_minutes": 90, "deadline": at(20), "title": "实验报告"}},
        fixed=[(at(10), at(12))],
    )


async def run(pipeline: Pipeline, seeded: Seeded, now: datetime) -> Preview:
    out = await pipeline.trigger_and_run(
        user_open_id=seeded.open_id,
        type=TriggerType.ADMIN_TRIGGER,
        now=now,
        task_id=seeded.tasks["report"],
        idempotency_key=f"t-{now.isoformat()}",
    )
    assert out.preview_id is not None, out
    assert out.hit is None, out  # a new trigger, planned now (not an earlier one's preview)
    (preview,) = [p for p in await rows(store_of(pipeline), Preview) if p.id == out.preview_id]
    assert isinstance(preview, Preview)
    return preview


async def apply_chosen(
    store: Store, seeded: Seeded, preview: Preview, now: datetime, busy: BusyTimes
) -> ApplyOutcome:
    """The owner presses Apply on the preview's chosen option (one press: key k1)."""
    return await apply(
        store,
        preview_id=preview.id,
        candidate_id=preview.chosen_candidate_id or "",
        operator_open_id=seeded.open_id,
        idempotency_key="k1",
        now=now,
        busy=busy,
    )


async def snapshot_but(store: Store, *models: type[Base]) -> dict[str, object]:
    """Every table's rows but those of `models` (what a read or a recorded refusal may write)."""
    skip = {m.__tablename__ for m in models}
    return {k: v for k, v in (await snapshot(store)).items() if k not in skip}


def store_of(pipeline: Pipeline) -> Store:
    return pipeline._store


def new_places(preview: Preview) -> list[tuple[datetime, datetime]]:
    first = decode_candidate(preview.candidates[0])
    return [(c.start, c.end) for c in first.changes if c.start is not None and c.end is not None]


async def test_a_feishu_meeting_is_planned_around_and_the_copy_kept_with_its_read_time(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await urgent(store, now)
    fake.calendars.add_event(seeded.open_id, at(12), at(13, 30), "周会")
    busy = busy_times(store, client)

    preview = await run(Pipeline(store, FallbackChooser(), busy=busy), seeded, now)

    # Without the calendar the first option is 12:00-13:30; the meeting pushes it past 13:30.
    places = new_places(preview)
    assert places
    assert all(s >= at(13, 30) or e <= at(12) for s, e in places), places
    assert all(not (s < at(12) and e > at(10)) for s, e in places)
    (query,) = fake.calendars.queries_for(seeded.open_id)
    assert query.body["only_busy"] is True
    assert query.body["include_external_calendar"] is True
    assert query.time_min <= now
    assert query.time_max >= now + timedelta(hours=25)
    (copy,) = await rows(store, BusyTime, user_id=seeded.user_id)
    assert (copy.start, copy.end, copy.title) == (at(12), at(13, 30), None)  # free/busy carries no title
    (read,) = await rows(store, CalendarRead, user_id=seeded.user_id)
    assert (read.read_at, read.source, read.error) == (now, "freebusy", None)
    assert preview.busy_read_at == now
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, preview.id)
    assert view.busy_age_minutes is None  # fresh: the card says nothing about it


async def test_a_young_copy_is_used_as_it_is_and_an_old_one_read_again(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await urgent(store, now)
    # (a 40-minute maximum age: runs 30 minutes apart are separate triggers)
    pipeline = Pipeline(store, FallbackChooser(), busy=busy_times(store, client, max_age_minutes=40))
    await run(pipeline, seeded, now)
    fake.calendars.add_event(seeded.open_id, at(12), at(13, 30), "周会")  # added after the first read

    young = await run(pipeline, seeded, now + timedelta(minutes=31))
    assert len(fake.calendars.queries_for(seeded.open_id)) == 1  # 31 minutes old: not read again
    assert new_places(young)[0][0] == at(12)  # planned on the copy, which has no meeting yet

    old = await run(pipeline, seeded, now + timedelta(minutes=61))
    assert len(fake.calendars.queries_for(seeded.open_id)) == 2
    assert new_places(old)[0][0] >= at(13, 30)


async def test_a_failed_read_plans_on_the_older_copy_and_the_card_says_how_old(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await urgent(store, now)
    fake.calendars.add_event(seeded.open_id, at(12), at(13, 30))
    pipeline = Pipeline(store, FallbackChooser(), busy=busy_times(store, client))
    await run(pipeline, seeded, now)

    later = now + timedelta(minutes=130)
    fake.inject("freebusy", Fault.server_error(503))
    preview = await run(pipeline, seeded, later)

    assert preview.busy_read_at == now
    # the old copy still holds
    assert all(not (s < at(13, 30) and e > at(12)) for s, e in new_places(preview))
    (read,) = await rows(store, CalendarRead, user_id=seeded.user_id)
    assert (read.read_at, read.failed_at) == (now, later)
    assert read.error
    async with store.uow(readonly=True) as uow:
        view = await preview_view(uow, preview.id)
    assert view.busy_age_minutes == 130


async def test_apply_re_reads_an_old_copy_and_refuses_a_slot_that_became_busy(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await urgent(store, now)
    busy = busy_times(store, client)
    preview = await run(Pipeline(store, FallbackChooser(), busy=busy), seeded, now)
    start, end = new_places(preview)[0]
    fake.calendars.add_event(seeded.open_id, start, end, "临时会议")  # booked in Feishu after the card
    before = await snapshot_but(store, BusyTime, CalendarRead, Preview)

    out = await apply_chosen(store, seeded, preview, now + timedelta(minutes=2), busy)

    assert (out.status, out.code) == ("rejected", ErrorCode.SLOT_CONFLICT)
    assert len(fake.calendars.queries_for(seeded.open_id)) == 2  # the copy was 2 minutes old: read again
    assert await snapshot_but(store, BusyTime, CalendarRead, Preview) == before
    assert await rows(store, ChangeSet) == []


async def test_apply_uses_a_copy_younger_than_a_minute_without_reading(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await urgent(store, now)
    busy = busy_times(store, client)
    preview = await run(Pipeline(store, FallbackChooser(), busy=busy), seeded, now)

    out = await apply_chosen(store, seeded, preview, now + timedelta(seconds=30), busy)

    assert out.status == "applied"
    assert len(fake.calendars.queries_for(seeded.open_id)) == 1


async def test_apply_when_feishu_cannot_be_reached_is_refused_and_writes_nothing(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await urgent(store, now)
    preview = await run(Pipeline(store, FallbackChooser(), busy=busy_times(store, client)), seeded, now)
    before = await snapshot_but(store, CalendarRead)
    async with FeishuClient(fake.app_id, fake.app_secret, domain=CLOSED_PORT_URL, timeout_seconds=2) as down:
        out = await apply_chosen(store, seeded, preview, now + timedelta(minutes=3), busy_times(store, down))

    assert (out.status, out.code) == ("rejected", ErrorCode.CALENDAR_UNAVAILABLE)
    assert await snapshot_but(store, CalendarRead) == before
    assert await rows(store, Block, source="assistant") == []

    # Feishu answers again: the same press applies.
    again = await apply_chosen(store, seeded, preview, now + timedelta(minutes=4), busy_times(store, client))
    assert again.status == "applied"


async def test_the_read_replaces_the_copy_and_clips_long_events(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await urgent(store, now)
    event = fake.calendars.add_event(seeded.open_id, at(14), at(15))
    fake.calendars.add_event(seeded.open_id, now - timedelta(days=3), now + timedelta(days=10), "出差")
    fake.calendars.add_event(seeded.open_id, at(16), at(17), free_busy_status="free")
    busy = busy_times(store, client, max_age_minutes=0)
    await busy.ensure_fresh(seeded.open_id, now, timedelta(0))
    copies = await rows(store, BusyTime, user_id=seeded.user_id)
    assert sorted((c.start, c.end) for c in copies) == [
        (now - timedelta(hours=1), now + timedelta(hours=48)),  # the trip, clipped to the read window
        (at(14), at(15)),
    ]

    fake.calendars.remove_event(event.event_id)
    await busy.ensure_fresh(seeded.open_id, now + timedelta(minutes=1), timedelta(0))
    (trip,) = await rows(store, BusyTime, user_id=seeded.user_id)
    assert trip.end == now + timedelta(minutes=1) + timedelta(hours=48)


# A pipeline batch with the calendar, every copy stale: the batch's statements (11, 2 commits) plus the copy
# states (1), the reads written in one transaction (delete, insert, record: 3), and the busy spans and read
# times in the claim (2) -- 17 statements and 3 commits, whatever the batch size.
CALENDAR_BATCH_STATEMENTS, CALENDAR_BATCH_COMMITS = 17, 3


async def test_a_batch_with_the_calendar_stays_under_its_ceiling(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient, now: datetime
) -> None:
    fake, _ = feishu
    seeded = [await seed_due_job(store, now) for _ in range(25)]
    users = {s["user"]: s["open_id"] for s in seeded}
    for open_id in users.values():
        fake.calendars.add_event(open_id, now + timedelta(hours=1), now + timedelta(hours=2))
    pipeline = Pipeline(store, FallbackChooser(), busy=busy_times(store, client))
    counts = []
    for size in (5, 20):
        created = await process_due_jobs(store, now=now, worker_id="w", lease_seconds=60, limit=size)
        with count_statements(store) as run:
            outcomes = await pipeline.run_batch(created, now)
        assert len(outcomes) == size
        assert run.count <= CALENDAR_BATCH_STATEMENTS, str(run)
        assert run.commits == CALENDAR_BATCH_COMMITS, str(run)
        counts.append(run.count)
    assert counts[0] == counts[1]
    assert len(await rows(store, BusyTime)) == len(users)  # one read per user, each copy written once
    assert len(fake.calendars.queries) == len(users)


async def test_only_movable_blocks_under_busy_time_are_conflicts_and_each_is_recorded_once(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await seed(
        store,
        now,
        tasks={
            "report": {"quadrant": 2, "estimate_minutes": 60, "deadline": at(20), "title": "报告"},
            "done": {"quadrant": 2, "estimate_minutes": 60, "status": "done", "title": "已完成"},
        },
        blocks={
            "movable": ("report", at(14), at(15)),
            "locked": ("report", at(16), at(17)),
            "begun": ("report", at(8, 30), at(9, 30)),
            "own": ("report", at(18), at(19)),
            "done": ("done", at(19), at(20)),
            "clear": ("report", at(21), at(22)),
        },
    )
    async with store.uow() as uow:
        locked = await uow.blocks.get(seeded.blocks["locked"])
        own = await uow.blocks.get(seeded.blocks["own"])
        assert locked is not None
        assert own is not None
        locked.locked = True
        own.calendar_id, own.calendar_event_id = "cal_1", "evt_own"  # written to Feishu by us
        await uow.commit()
    for start, end in ((at(14, 30), at(15, 30)), (at(16), at(17)), (at(9), at(10)), (at(18), at(19))):
        fake.calendars.add_event(seeded.open_id, start, end)
    fake.calendars.add_event(seeded.open_id, at(19), at(20))
    busy = busy_times(store, client)

    created = await conflicts.scan(store, busy, now)
    again = await conflicts.scan(store, busy, now + timedelta(minutes=10))

    (trigger,) = await rows(store, Trigger, type="calendar_conflict")
    assert created == [trigger.id]
    assert trigger.block_id == seeded.blocks["movable"]
    assert again == []  # the same conflict: recorded once
    assert len(fake.calendars.queries_for(seeded.open_id)) == 2  # read at 09:00, re-read at 09:10


async def test_a_conflict_card_moves_the_block_off_the_busy_time(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    now = at(9)
    seeded = await seed(
        store,
        now,
        tasks={"report": {"quadrant": 2, "estimate_minutes": 90, "deadline": at(20), "title": "实验报告"}},
        blocks={"b": ("report", at(14), at(15, 30))},
    )
    fake.calendars.add_event(seeded.open_id, at(14), at(15), "周会")
    busy = busy_times(store, client)
    (trigger_id,) = await conflicts.scan(store, busy, now)

    out = await Pipeline(store, FallbackChooser(), busy=busy).run(trigger_id, now)

    assert out.decision == "propose"
    (preview,) = await rows(store, Preview)
    first = decode_candidate(preview.candidates[0])
    (change,) = first.changes
    assert (change.kind, change.block_id) == ("move_block", seeded.blocks["b"])
    assert change.start is not None
    assert change.end is not None
    assert not (change.start < at(15) and change.end > at(14))
    assert preview.candidates[0]["texts"]["summary"].startswith("把 实验报告 移到")


async def test_a_conflict_found_outside_the_day_window_is_recorded_when_it_opens(
    store: Store, feishu: tuple[FakeFeishu, str], client: FeishuClient
) -> None:
    fake, _ = feishu
    night = at(23, 30, day=29)  # the user's day is 08:00-22:30
    seeded = await seed(
        store,
        night,
        tasks={"report": {"quadrant": 2, "estimate_minutes": 60, "deadline": at(20), "title": "报告"}},
        blocks={"b": ("report", at(9), at(10))},
    )
    fake.calendars.add_event(seeded.open_id, at(9), at(10))
    busy = busy_times(store, client)
    assert await conflicts.scan(store, busy, night) == []
    (trigger_id,) = await conflicts.scan(store, busy, at(8))
    (trigger,) = await rows(store, Trigger, id=trigger_id)
    assert trigger.block_id == seeded.blocks["b"]
