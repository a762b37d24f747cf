"""Time already planned before a deadline, at any horizon: covered, or how much remains."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from scheduler.planning import coverage
from scheduler.planning.model import Block, TaskInfo

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 30, 9, 5, tzinfo=SH)


def at(day: int, h: int, m: int = 0) -> datetime:
    """Local time on 2026-11-<day>; days past 30 run into December."""
    return datetime(2026, 11, 30, h, m, tzinfo=SH) + timedelta(days=day - 30)


TASK = TaskInfo("t1", "物理实验报告", 1, 90, deadline=at(32, 12))


def test_a_block_two_days_ahead_before_the_deadline_covers_the_estimate() -> None:
    cov = coverage(TASK, (Block("b1", "t1", at(31, 15, 5), at(31, 16, 35)),), NOW)
    assert (cov.planned_minutes, cov.remaining_minutes, cov.covered, cov.partly) == (90, 0, True, False)


def test_part_after_the_deadline_and_other_tasks_blocks_do_not_count() -> None:
    blocks = (
        Block("b1", "t1", at(31, 14), at(31, 14, 30)),
        Block("b2", "t1", at(32, 11, 30), at(32, 12, 30)),  # half before the deadline
        Block("b3", "t2", at(31, 8), at(31, 12)),
    )
    cov = coverage(TASK, blocks, NOW)
    assert (cov.planned_minutes, cov.remaining_minutes, cov.covered, cov.partly) == (60, 30, False, True)


def test_a_running_block_counts_from_now_and_past_blocks_not_at_all() -> None:
    blocks = (
        Block("past", "t1", at(30, 7), at(30, 8)),
        Block("running", "t1", at(30, 8, 35), at(30, 9, 35)),  # 30 of its minutes are still ahead
    )
    cov = coverage(TASK, blocks, NOW)
    assert (cov.planned_minutes, cov.remaining_minutes) == (30, 60)


def test_overlapping_blocks_count_once_and_a_stated_remainder_replaces_the_estimate() -> None:
    blocks = (Block("a", "t1", at(31, 10), at(31, 11)), Block("b", "t1", at(31, 10, 30), at(31, 11, 30)))
    assert coverage(TASK, blocks, NOW).planned_minutes == 90
    assert coverage(TASK, blocks, NOW, needed_minutes=120).remaining_minutes == 30


def test_without_a_deadline_all_future_time_counts_and_nothing_planned_means_all_remains() -> None:
    open_ended = TaskInfo("t1", "阅读", 2, 60)
    far = (Block("b", "t1", at(35, 10), at(35, 11)),)
    assert coverage(open_ended, far, NOW).covered
    none = coverage(open_ended, (), NOW)
    assert (none.planned_minutes, none.remaining_minutes, none.covered, none.partly) == (0, 60, False, False)
