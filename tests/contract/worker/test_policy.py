"""Delivery rules: backoff, retry hints, quiet hours, the daily cap's local day, dedupe buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.settings import builtin_settings
from scheduler.worker.config import WorkerConfigError
from scheduler.worker.policy import (
    QuietHours,
    backoff_seconds,
    card_dedupe_key,
    delivery_gate,
    local_day_start,
    next_retry_at,
)

SH = ZoneInfo("Asia/Shanghai")
NY = ZoneInfo("America/New_York")


def test_backoff_follows_the_documented_schedule() -> None:
    assert [backoff_seconds(n) for n in range(1, 7)] == [5, 30, 120, 600, 1800, 1800]


def test_retry_waits_for_the_platform_reset_when_it_is_longer() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert next_retry_at(now, 1, 40.0) == now + timedelta(seconds=40)
    assert next_retry_at(now, 1, 1.0) == now + timedelta(seconds=5)
    assert next_retry_at(now, 2, None) == now + timedelta(seconds=30)


def test_quiet_hours_across_midnight_defer_to_their_end() -> None:
    quiet = QuietHours.parse("22:00", "08:00")
    assert quiet is not None
    late = datetime(2026, 11, 30, 23, 0, tzinfo=SH)
    gate = delivery_gate(late.astimezone(UTC), SH, quiet, sent_today=0, daily_cap=8)
    assert gate is not None
    assert gate.reason == "quiet_hours"
    assert gate.until == datetime(2026, 12, 1, 8, 0, tzinfo=SH)
    early = datetime(2026, 12, 1, 7, 59, tzinfo=SH)
    assert delivery_gate(early, SH, quiet, 0, 8) is not None
    assert delivery_gate(datetime(2026, 12, 1, 8, 0, tzinfo=SH), SH, quiet, 0, 8) is None


def test_quiet_hours_within_a_day_and_unset_values() -> None:
    quiet = QuietHours.parse("12:00", "13:30")
    assert quiet is not None
    gate = delivery_gate(datetime(2026, 11, 30, 12, 10, tzinfo=SH), SH, quiet, 0, 8)
    assert gate is not None
    assert gate.until == datetime(2026, 11, 30, 13, 30, tzinfo=SH)
    assert QuietHours.parse(None, "08:00") is None
    assert QuietHours.parse("08:00", "08:00") is None
    assert QuietHours.parse("25:00", "08:00") is None


def test_daily_cap_defers_to_the_next_local_day_and_respects_quiet_hours_then() -> None:
    now = datetime(2026, 11, 30, 15, 0, tzinfo=SH)
    gate = delivery_gate(now, SH, None, sent_today=8, daily_cap=8)
    assert gate is not None
    assert (gate.reason, gate.until) == ("daily_cap", datetime(2026, 12, 1, 0, 0, tzinfo=SH))
    quiet = QuietHours.parse("23:00", "07:30")
    gate = delivery_gate(now, SH, quiet, sent_today=8, daily_cap=8)
    assert gate is not None
    assert gate.until == datetime(2026, 12, 1, 7, 30, tzinfo=SH)
    assert delivery_gate(now, SH, None, sent_today=7, daily_cap=8) is None


def test_local_day_follows_the_user_time_zone_across_dst() -> None:
    # 2026-11-01 is the New York fall-back day: 25 hours long.
    at = datetime(2026, 11, 1, 23, 30, tzinfo=NY)
    assert local_day_start(at, NY) == datetime(2026, 11, 1, 4, 0, tzinfo=UTC)
    gate = delivery_gate(at, NY, None, 1, 1)
    assert gate is not None
    assert gate.until == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)


def test_card_dedupe_key_uses_thirty_minute_buckets() -> None:
    a = card_dedupe_key("ou_a", "worker_due_job", "t1", datetime(2026, 1, 1, 9, 0, tzinfo=UTC))
    b = card_dedupe_key("ou_a", "worker_due_job", "t1", datetime(2026, 1, 1, 9, 29, 59, tzinfo=UTC))
    c = card_dedupe_key("ou_a", "worker_due_job", "t1", datetime(2026, 1, 1, 9, 30, tzinfo=UTC))
    assert a == b != c
    assert a == "ou_a:worker_due_job:t1:20260101T0900"


def test_timeouts_must_shrink_inward() -> None:
    builtin_settings(
        feishu_timeout_seconds=10, delivery_timeout_seconds=20, lease_seconds=60
    ).worker_config().check()
    with pytest.raises(WorkerConfigError) as err:
        builtin_settings(
            feishu_timeout_seconds=10, delivery_timeout_seconds=20, lease_seconds=15
        ).worker_config().check()
    text = str(err.value)
    for name in (
        "SMARTFLOW_FEISHU_TIMEOUT_SECONDS",
        "SMARTFLOW_DELIVERY_TIMEOUT_SECONDS",
        "SMARTFLOW_LEASE_SECONDS",
    ):
        assert name in text
    with pytest.raises(WorkerConfigError):
        builtin_settings(
            feishu_timeout_seconds=20, delivery_timeout_seconds=20, lease_seconds=60
        ).worker_config().check()
