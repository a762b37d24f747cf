"""Hypothesis properties over random contexts: every change candidate is valid, few, distinct, stable."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.planning import engine, window
from scheduler.planning import plan as plan_ctx
from scheduler.planning.clock import span_on
from scheduler.planning.model import (
    Block,
    CandidateType,
    ChangeKind,
    DayExtension,
    Decision,
    FixedEvent,
    PlanningContext,
    Target,
    TargetKind,
    TaskInfo,
    TaskStatus,
    UserPrefs,
)

ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "UTC"]
# DST changes in New York and London, and ordinary days
DAYS = [
    date(2026, 3, 7),
    date(2026, 3, 8),
    date(2026, 3, 28),
    date(2026, 10, 31),
    date(2026, 11, 1),
    date(2026, 11, 30),
]


def q(minutes: int) -> time:
    return time(minutes // 60 % 24, minutes % 60)


@st.composite
def contexts(draw: st.DrawFn) -> PlanningContext:
    tzname = draw(st.sampled_from(ZONES))
    tz = ZoneInfo(tzname)
    day = draw(st.sampled_from(DAYS))
    # "repair" mode: daytime, a report right at the end of a block with work packed after it
    repair = draw(st.booleans())
    of_day = draw(st.integers(9 * 60, 18 * 60) if repair else st.integers(0, 1439))
    now = datetime.combine(day, time(0, 0), tzinfo=tz) + timedelta(minutes=of_day)
    now = now.astimezone(UTC).astimezone(tz)  # normalise a time skipped by DST
    day_start = draw(st.integers(5 * 4, (8 if repair else 11) * 4)) * 15
    day_end = draw(st.sampled_from([19 * 60, 21 * 60, 22 * 60 + 30, 23 * 60 + 45, 0, 60, 120]))
    quiet = draw(st.none() | st.tuples(st.integers(0, 95), st.integers(0, 95)))
    preferred = draw(st.lists(st.tuples(st.integers(0, 95), st.integers(1, 16)), max_size=2))
    user = UserPrefs(
        timezone=tzname,
        day_start=q(day_start),
        day_end=q(day_end),
        quiet_start=q(quiet[0] * 15) if quiet else None,
        quiet_end=q(quiet[1] * 15) if quiet else None,
        preferred=tuple((q(a * 15), q((a + n) * 15)) for a, n in preferred),
        grid_minutes=draw(st.sampled_from([5, 10, 15, 15, 30])),
        max_extension_minutes=draw(st.sampled_from([90, 90, 30, 240])),
        late_work=draw(st.booleans()),
    )
    n_tasks = draw(st.integers(2, 4))
    tasks = []
    for i in range(n_tasks):
        deadline = draw(st.none() | st.integers(-120, 40 * 60))
        tasks.append(
            TaskInfo(
                id=f"t{i}",
                title=f"任务{i}",
                quadrant=draw(st.integers(1, 4)),
                estimate_minutes=draw(st.integers(1, 60)) * 5,
                deadline=None if deadline is None else now + timedelta(minutes=deadline),
                status=TaskStatus.OPEN
                if i == 0
                else draw(st.sampled_from([TaskStatus.OPEN] * 3 + list(TaskStatus))),
            )
        )
    fixed = []
    dense = draw(st.booleans())
    for i in range(draw(st.integers(0, 3 if repair else 30 if dense else 8))):
        start = now + timedelta(minutes=draw(st.integers(-180, 27 * 60)))
        fixed.append(
            FixedEvent(f"f{i}", "课", start=start, end=start + timedelta(minutes=draw(st.integers(5, 240))))
        )
    for i in range(draw(st.integers(0, 2))):
        a = draw(st.integers(0, 95)) * 15
        fixed.append(
            FixedEvent(
                f"w{i}",
                "周课",
                weekday=draw(st.integers(1, 7)),
                local_start=q(a),
                local_end=q(a + draw(st.integers(1, 12)) * 15),
            )
        )
    blocks = []
    unfinished = draw(st.booleans())
    cursor = now - timedelta(minutes=draw(st.integers(0, 240)))
    if unfinished:
        # the reported block started in the past; successors often follow right after it
        length = timedelta(minutes=draw(st.integers(3, 24)) * 5)
        start = (
            now - length - timedelta(minutes=draw(st.integers(0, 10) if repair else st.integers(-30, 180)))
        )
        blocks.append(Block("bu", "t0", start, start + length))
        cursor = start + length
    for i in range(draw(st.integers(0, 10))):
        cursor += timedelta(minutes=draw(st.integers(0, 5 if repair else 30 if dense else 180)))
        length = timedelta(minutes=draw(st.integers(3, 24)) * 5)
        task = (
            draw(st.integers(0, n_tasks - 1))
            if draw(st.integers(0, 5)) == 0
            else draw(st.integers(1, n_tasks - 1))
        )
        blocks.append(
            Block(f"b{i}", f"t{task}", cursor, cursor + length, locked=draw(st.integers(0, 3)) == 0)
        )
        cursor += length
    exts: tuple[DayExtension, ...] = ()
    if draw(st.booleans()):
        exts = (DayExtension(now.date(), q(day_end + draw(st.integers(1, 8)) * 15)),)
    if unfinished:
        target = Target(
            TargetKind.UNFINISHED,
            block_id=draw(st.sampled_from(["bu", "bu", "bu", *(b.id for b in blocks)])),
            remaining_minutes=draw(st.none() | st.integers(0, 36).map(lambda x: x * 5)),
        )
    else:
        target = Target(TargetKind.TASK, task_id="t0")
    return PlanningContext(
        now=now,
        user=user,
        target=target,
        tasks=tuple(tasks),
        fixed_events=tuple(fixed),
        blocks=tuple(blocks),
        day_extensions=exts,
    )


def planned_before_deadline(ctx: PlanningContext, task: TaskInfo) -> int:
    """Brute force: the distinct minutes of the task's blocks from now until its deadline."""
    lo = utc(ctx.now)
    hi = utc(task.deadline) if task.deadline else None
    covered: set[datetime] = set()
    for b in ctx.blocks:
        if b.task_id != task.id:
            continue
        m = max(utc(b.start), lo.replace(second=0, microsecond=0))
        while m < utc(b.end) and (hi is None or m < hi):
            if m >= lo:
                covered.add(m)
            m += timedelta(minutes=1)
    return len(covered)


def needed(ctx: PlanningContext) -> int:
    if ctx.target.kind == TargetKind.TASK:
        task = next(t for t in ctx.tasks if t.id == ctx.target.task_id)
        return task.estimate_minutes - planned_before_deadline(ctx, task)
    block = next(b for b in ctx.blocks if b.id == ctx.target.block_id)
    if ctx.target.remaining_minutes is not None:
        return ctx.target.remaining_minutes
    return minutes(block.start, block.end)


def utc(dt: datetime) -> datetime:
    """Aware datetimes sharing a ZoneInfo compare and subtract by wall clock; UTC avoids that."""
    return dt.astimezone(UTC)


def minutes(a: datetime, b: datetime) -> int:
    return int((utc(b) - utc(a)).total_seconds() // 60)


def now_up_to_5(now: datetime, tz: ZoneInfo) -> datetime:
    local = now.astimezone(tz)
    floor = local.replace(minute=local.minute - local.minute % 5, second=0, microsecond=0)
    return utc(floor if floor == local else floor + timedelta(minutes=5))


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def check(ctx: PlanningContext) -> None:
    result = plan_ctx(ctx)
    cands = result.candidates
    changes = [c for c in cands if c.is_change]
    if result.observation.decision != Decision.PROPOSE:
        assert len(cands) == 1
        assert not cands[0].is_change
        return
    assert 1 <= len(changes) == len(cands) <= 3
    assert len({c.id for c in cands}) == len(cands)
    assert len({c.changes for c in cands}) == len(cands)
    tz = ZoneInfo(ctx.user.timezone)
    w_start = utc(ctx.now)
    w_end = w_start + timedelta(hours=ctx.horizon_hours)
    fixed = [
        (i.start, i.end)
        for i in window.expand_fixed_events(
            ctx.fixed_events, tz, w_start - timedelta(days=1), w_end + timedelta(days=1)
        )
    ]
    tasks = {t.id: t for t in ctx.tasks}
    blocks = {b.id: b for b in ctx.blocks}
    anchors = {utc(e) for _, e in fixed} | {utc(b.end) for b in ctx.blocks} | {now_up_to_5(ctx.now, tz)}
    anchors |= {utc(i.start) for i in window.day_windows(PlanningContext(ctx.now, ctx.user, ctx.target))}
    for c in cands:
        touched = {ch.block_id for ch in c.changes if ch.block_id}
        exts = list(ctx.day_extensions)
        for ch in c.changes:
            if ch.kind == ChangeKind.EXTEND_DAY:
                assert ch.day is not None
                assert ch.new_day_end is not None
                exts = [x for x in exts if x.day != ch.day] + [DayExtension(ch.day, ch.new_day_end)]
                # bounded: at most the user's maximum past the usual day end, midnight unless late work
                new_end = span_on(ch.day, ctx.user.day_start, ch.new_day_end, tz)[1]
                usual_end = span_on(ch.day, ctx.user.day_start, ctx.user.day_end, tz)[1]
                assert new_end - usual_end <= ctx.user.max_extension_minutes, c
                midnight = span_on(ch.day + timedelta(days=1), time(0, 0), time(0, 1), tz)[0]
                assert ctx.user.late_work or new_end <= midnight, c
        day_ctx = PlanningContext(now=ctx.now, user=ctx.user, target=ctx.target, day_extensions=tuple(exts))
        days = [(i.start, i.end) for i in window.day_windows(day_ctx)]
        spans = []
        for ch in c.changes:
            if ch.kind == ChangeKind.EXTEND_DAY:
                continue
            assert ch.start is not None
            assert ch.end is not None
            assert ch.start < ch.end
            span = (ch.start, ch.end)
            assert w_start <= ch.start, c
            assert ch.end <= w_end, c
            assert any(a <= ch.start and ch.end <= b for a, b in days), c
            assert not any(overlaps(span, f) for f in fixed), c
            untouched = [(utc(b.start), utc(b.end)) for b in ctx.blocks if b.id not in touched]
            assert not any(overlaps(span, u) for u in untouched), c
            assert not any(overlaps(span, s) for s in spans), c
            spans.append(span)
            if ch.kind in (ChangeKind.ADD_BLOCK, ChangeKind.MOVE_BLOCK):
                # a start sits on the grid, at a busy end or day start, or at now rounded up to 5 min
                local = ch.start.astimezone(tz)
                on_grid = (local.hour * 60 + local.minute) % ctx.user.grid_minutes == 0
                assert on_grid or utc(ch.start) in anchors, c
            if ch.block_id is not None:
                b = blocks[ch.block_id]
                assert not b.locked
                assert utc(b.start) >= w_start
                assert tasks[b.task_id].status == TaskStatus.OPEN
        added = sum(
            minutes(ch.start, ch.end)
            for ch in c.changes
            if ch.kind == ChangeKind.ADD_BLOCK and ch.start and ch.end
        )
        if c.type == CandidateType.RUSH_MERGE and c.capacity_fit == "partial":
            assert added < needed(ctx)
        else:
            assert added == needed(ctx), c


@st.composite
def packed_evenings(draw: st.DrawFn) -> PlanningContext:
    """A block reported unfinished with the user's blocks packed after it until late: push, extend, rush."""
    tz = ZoneInfo(draw(st.sampled_from(ZONES)))
    day = draw(st.sampled_from(DAYS))
    now = (
        datetime.combine(day, q(draw(st.integers(14 * 4, 23 * 4)) * 15), tzinfo=tz)
        .astimezone(UTC)
        .astimezone(tz)
    )
    start = now - timedelta(minutes=draw(st.integers(3, 12)) * 5)
    blocks = [Block("bu", "t0", start, now)]
    cursor = now
    for i in range(draw(st.integers(1, 6))):
        length = timedelta(minutes=draw(st.integers(3, 18)) * 5)
        blocks.append(
            Block(f"b{i}", f"t{1 + i % 2}", cursor, cursor + length, locked=draw(st.integers(0, 4)) == 0)
        )
        cursor += length + timedelta(minutes=draw(st.sampled_from([0, 0, 0, 15, 30])))
    fixed = []
    if draw(st.booleans()):  # the next morning is taken, so tonight matters
        morning = datetime.combine(day + timedelta(days=1), time(6, 0), tzinfo=tz)
        fixed.append(
            FixedEvent("f0", "课", start=morning, end=morning + timedelta(hours=draw(st.integers(2, 18))))
        )
    if draw(st.booleans()):
        late = cursor + timedelta(minutes=draw(st.integers(0, 90)))
        fixed.append(
            FixedEvent("f1", "课", start=late, end=late + timedelta(minutes=draw(st.integers(15, 300))))
        )
    user = UserPrefs(
        timezone=str(tz.key),
        day_start=time(7, 0),
        day_end=q(draw(st.sampled_from([21 * 60, 22 * 60 + 30, 23 * 60 + 45, 0]))),
        grid_minutes=draw(st.sampled_from([5, 15, 30])),
    )
    deadline = draw(st.none() | st.integers(30, 20 * 60))
    tasks = (
        TaskInfo(
            "t0", "报告", 1, 120, deadline=None if deadline is None else now + timedelta(minutes=deadline)
        ),
        TaskInfo("t1", "阅读", 2, 60),
        TaskInfo(
            "t2",
            "练习",
            3,
            60,
            status=draw(st.sampled_from([TaskStatus.OPEN, TaskStatus.OPEN, TaskStatus.DONE])),
        ),
    )
    target = Target(
        TargetKind.UNFINISHED,
        block_id="bu",
        remaining_minutes=draw(st.none() | st.integers(2, 36).map(lambda x: x * 5)),
    )
    return PlanningContext(
        now=now, user=user, target=target, tasks=tasks, fixed_events=tuple(fixed), blocks=tuple(blocks)
    )


SETTINGS = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(contexts())
def test_change_candidates_are_valid(ctx: PlanningContext) -> None:
    check(ctx)


@settings(max_examples=60, deadline=None)
@given(contexts())
def test_same_input_same_output(ctx: PlanningContext) -> None:
    first = plan_ctx(ctx)
    engine.clear_caches()
    rebuilt = PlanningContext(**{f: getattr(ctx, f) for f in ctx.__dataclass_fields__})
    assert plan_ctx(rebuilt) == first


@SETTINGS
@given(packed_evenings())
def test_repair_candidates_are_valid(ctx: PlanningContext) -> None:
    check(ctx)


def fits_on_5_minute_grid(ctx: PlanningContext, length: int, deadline: datetime) -> bool:
    """Brute force: some [p, p + length) on the 5-minute clock, inside a day window and the 24 hours,
    clear of every fixed event and block, ends by the deadline."""
    tz = ZoneInfo(ctx.user.timezone)
    start = now_up_to_5(ctx.now, tz)
    end = min(utc(ctx.now) + timedelta(hours=ctx.horizon_hours), utc(deadline))
    busy = [
        (i.start, i.end)
        for i in window.expand_fixed_events(
            ctx.fixed_events, tz, start - timedelta(days=1), end + timedelta(days=1)
        )
    ] + [(utc(b.start), utc(b.end)) for b in ctx.blocks]
    days = [(i.start, i.end) for i in window.day_windows(ctx)]
    p, span = start, timedelta(minutes=length)
    while p + span <= end:
        if any(a <= p and p + span <= b for a, b in days) and not any(
            overlaps((p, p + span), x) for x in busy
        ):
            return True
        p += timedelta(minutes=5)
    return False


@SETTINGS
@given(contexts())
def test_top_candidate_meets_the_deadline_whenever_a_5_minute_placement_does(ctx: PlanningContext) -> None:
    result = plan_ctx(ctx)
    if result.observation.decision in (Decision.CLOSE, Decision.ASK_USER):
        return
    if ctx.target.kind == TargetKind.TASK:
        task_id = ctx.target.task_id
    else:
        task_id = next(b.task_id for b in ctx.blocks if b.id == ctx.target.block_id)
    deadline = next((t.deadline for t in ctx.tasks if t.id == task_id), None)
    if deadline is None or utc(deadline) <= utc(ctx.now):
        return
    if fits_on_5_minute_grid(ctx, needed(ctx), deadline):
        top = result.candidates[0]
        assert top.is_change, top
        assert top.component("meets_deadline") == 1.0, top
