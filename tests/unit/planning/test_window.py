"""The window: day windows, weekly expansion across DST, busy items and free intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from scheduler.planning import busy_items, day_windows, expand_fixed_events, free_intervals
from scheduler.planning.model import (
    Block,
    BusyKind,
    DayExtension,
    FixedEvent,
    PlanningContext,
    Target,
    TargetKind,
    TaskInfo,
    UserPrefs,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def ctx(now: datetime, **kw: object) -> PlanningContext:
    user = kw.pop("user", UserPrefs())
    return PlanningContext(now=now, user=user, target=Target(TargetKind.TASK, task_id="t1"), **kw)  # type: ignore[arg-type]


def local(iv_start: datetime, tz: ZoneInfo = SH) -> str:
    return iv_start.astimezone(tz).strftime("%m-%d %H:%M")


def test_free_intervals_start_at_now_or_a_busy_end_and_stay_inside_day_windows() -> None:
    c = ctx(
        datetime(2026, 11, 30, 13, 7, tzinfo=SH),
        fixed_events=(
            FixedEvent(
                "f",
                "课",
                start=datetime(2026, 11, 30, 14, 0, tzinfo=SH),
                end=datetime(2026, 11, 30, 15, 40, tzinfo=SH),
            ),
        ),
    )
    got = [(local(i.start), local(i.end)) for i in free_intervals(c)]
    # now 13:07 rounds up to 13:10 (not the 15-minute mark); the class ends at 15:40, free from then
    assert got == [
        ("11-30 13:10", "11-30 14:00"),
        ("11-30 15:40", "11-30 22:30"),
        ("12-01 08:00", "12-01 13:07"),
    ]


def test_day_windows_respect_extensions_and_midnight_end() -> None:
    c = ctx(
        datetime(2026, 11, 30, 20, 0, tzinfo=SH),
        user=UserPrefs(day_end=time(0, 0)),
        day_extensions=(DayExtension(date(2026, 12, 1), time(1, 0)),),
    )
    got = [(local(i.start), local(i.end)) for i in day_windows(c)]
    assert got == [("11-30 20:00", "12-01 00:00"), ("12-01 08:00", "12-01 20:00")]


def test_weekly_event_keeps_local_time_across_spring_forward() -> None:
    ev = FixedEvent("w", "Choir", weekday=7, local_start=time(9, 0), local_end=time(10, 0))
    start = datetime(2026, 3, 1, 0, 0, tzinfo=NY)
    items = expand_fixed_events([ev], "America/New_York", start, start + timedelta(days=14))
    assert [i.start.astimezone(NY).strftime("%m-%d %H:%M") for i in items] == ["03-01 09:00", "03-08 09:00"]
    # one hour less between the two in absolute time: 7 days minus the skipped hour
    assert items[1].start - items[0].start == timedelta(days=7, hours=-1)
    assert items[1].start.astimezone(UTC).hour == 13


def test_weekly_event_validity_dates_and_overnight_span() -> None:
    ev = FixedEvent(
        "w",
        "夜班",
        weekday=1,
        local_start=time(22, 0),
        local_end=time(2, 0),
        valid_from=date(2026, 11, 30),
        valid_until=date(2026, 11, 30),
    )
    start = datetime(2026, 11, 20, tzinfo=SH)
    items = expand_fixed_events([ev], SH, start, start + timedelta(days=20))
    assert [(local(i.start), local(i.end)) for i in items] == [("11-30 22:00", "12-01 02:00")]


def test_busy_items_list_fixed_events_and_blocks_sorted() -> None:
    now = datetime(2026, 11, 30, 9, 0, tzinfo=SH)
    c = ctx(
        now,
        tasks=(TaskInfo("t2", "阅读", 2, 60),),
        fixed_events=(FixedEvent("w", "英语", weekday=2, local_start=time(8, 0), local_end=time(9, 40)),),
        blocks=(
            Block("b1", "t2", now + timedelta(hours=2), now + timedelta(hours=3), locked=True),
            Block("old", "t2", now - timedelta(days=2), now - timedelta(days=2, hours=-1)),
        ),
    )
    items = busy_items(c)
    assert [(i.kind, i.id, i.title, local(i.start)) for i in items] == [
        (BusyKind.BLOCK, "b1", "阅读", "11-30 11:00"),
        (BusyKind.FIXED, "w", "英语", "12-01 08:00"),
    ]
    assert items[0].locked
    assert items[0].task_id == "t2"
