"""When a proactive card may go out: inside the day window, outside quiet hours, else when it opens."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from scheduler.planning.awake import card_time
from scheduler.planning.model import UserPrefs

TZ = ZoneInfo("Asia/Shanghai")


def local(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(30, 5, 1), local(30, 8)),  # before the day starts: when it starts
        (local(30, 9), local(30, 9)),  # inside: at once
        (local(30, 22, 30), datetime(2026, 12, 1, 8, tzinfo=TZ)),  # the day's end is outside
        (local(30, 23, 1), datetime(2026, 12, 1, 8, tzinfo=TZ)),  # after the day ends: next morning
    ],
    ids=["05:01", "09:00", "22:30", "23:01"],
)
def test_default_day_window(at: datetime, expected: datetime) -> None:
    assert card_time(at, UserPrefs()) == expected


def test_quiet_hours_narrow_the_window() -> None:
    prefs = UserPrefs(quiet_start=time(22, 0), quiet_end=time(9, 0))
    assert card_time(local(30, 8, 30), prefs) == local(30, 9)
    assert card_time(local(30, 21, 59), prefs) == local(30, 21, 59)
    assert card_time(local(30, 22, 10), prefs) == datetime(2026, 12, 1, 9, tzinfo=TZ)


def test_a_day_window_crossing_midnight() -> None:
    prefs = UserPrefs(day_start=time(10, 0), day_end=time(2, 0))
    assert card_time(local(30, 1), prefs) == local(30, 1)
    assert card_time(local(30, 3), prefs) == local(30, 10)


def test_quiet_hours_covering_the_whole_day_do_not_hold_a_card_forever() -> None:
    prefs = UserPrefs(quiet_start=time(7, 0), quiet_end=time(23, 0))
    assert card_time(local(30, 12), prefs) == local(30, 12)


def test_a_new_york_morning_across_the_dst_change() -> None:
    ny = ZoneInfo("America/New_York")
    prefs = UserPrefs(timezone="America/New_York")
    # 2026-03-08 is the spring-forward day: 05:01 EDT waits for 08:00 EDT
    assert card_time(datetime(2026, 3, 8, 5, 1, tzinfo=ny), prefs) == datetime(2026, 3, 8, 8, tzinfo=ny)
