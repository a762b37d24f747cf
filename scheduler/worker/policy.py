"""Pure delivery rules: backoff, quiet hours, the daily cap's local day, notification dedupe keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Wait 5 s, 30 s, 2 min, 10 min, 30 min between attempts; at most 5 attempts, then dead.
BACKOFF_SECONDS: tuple[float, ...] = (5.0, 30.0, 120.0, 600.0, 1800.0)
MAX_ATTEMPTS = 5
BUCKET_MINUTES = 30


def backoff_seconds(attempts: int) -> float:
    """The wait after the `attempts`-th failed attempt (1-based)."""
    index = min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1
    return BACKOFF_SECONDS[index]


def next_retry_at(now: datetime, attempts: int, retry_after: float | None) -> datetime:
    """When to try again: the backoff step, but never before the platform's own reset hint."""
    wait = backoff_seconds(attempts)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return now + timedelta(seconds=wait)


def bucket_start(at: datetime, minutes: int = BUCKET_MINUTES) -> datetime:
    """The start of the `minutes`-long UTC bucket holding `at`."""
    utc = at.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % minutes, second=0, microsecond=0)


def card_dedupe_key(user_open_id: str, trigger_type: str, target: str | None, at: datetime) -> str:
    """One card per (user, trigger type, target, 30-minute bucket)."""
    return f"{user_open_id}:{trigger_type}:{target or '-'}:{bucket_start(at):%Y%m%dT%H%M}"


def update_dedupe_key(preview_id: str, state: str) -> str:
    """One card update per preview state change."""
    return f"update:{preview_id}:{state}"


def _parse_hhmm(value: str) -> time | None:
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    h, m = int(hours), int(minutes)
    if h == 24 and m == 0:
        return time(0, 0)
    if not (0 <= h < 24 and 0 <= m < 60):
        return None
    return time(h, m)


@dataclass(frozen=True)
class QuietHours:
    """A daily local quiet period [start, end); it crosses midnight when end <= start."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str | None, end: str | None) -> QuietHours | None:
        """None when unset, malformed or empty (start == end)."""
        if not start or not end:
            return None
        s, e = _parse_hhmm(start), _parse_hhmm(end)
        if s is None or e is None or s == e:
            return None
        return cls(s, e)

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def end_after(self, at: datetime, zone: ZoneInfo) -> datetime:
        """The first end of quiet hours after `at` (UTC)."""
        local = at.astimezone(zone)
        for offset in range(3):
            candidate = _local_instant(local.date() + timedelta(days=offset), self.end, zone)
            if candidate > at:
                return candidate
        raise AssertionError("unreachable: a quiet period ends within two days")


def _local_instant(day: date, at: time, zone: ZoneInfo) -> datetime:
    # A local time skipped by a DST jump resolves forward (fold=0 keeps the earlier offset), which is what
    # "not before quiet hours end" needs.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def local_day_start(at: datetime, zone: ZoneInfo) -> datetime:
    """Midnight of the user's local day holding `at`, as UTC."""
    return _local_instant(at.astimezone(zone).date(), time(0, 0), zone)


def next_local_day_start(at: datetime, zone: ZoneInfo) -> datetime:
    return _local_instant(at.astimezone(zone).date() + timedelta(days=1), time(0, 0), zone)


QUIET_HOURS = "quiet_hours"
DAILY_CAP = "daily_cap"
# the reasons a proactive card is held back (never dropped)
HOLD_REASONS = frozenset({QUIET_HOURS, DAILY_CAP})


@dataclass(frozen=True)
class Gate:
    """Why a proactive card may not go out now, and when it may."""

    reason: str  # quiet_hours | daily_cap
    until: datetime


def delivery_gate(
    now: datetime, zone: ZoneInfo, quiet: QuietHours | None, sent_today: int, daily_cap: int
) -> Gate | None:
    """None when a proactive card may be sent at `now`, else the deferral (never a drop)."""
    if quiet is not None and quiet.contains(now.astimezone(zone).time()):
        return Gate(QUIET_HOURS, quiet.end_after(now, zone))
    if sent_today >= daily_cap:
        until = next_local_day_start(now, zone)
        if quiet is not None and quiet.contains(until.astimezone(zone).time()):
            until = quiet.end_after(until, zone)
        return Gate(DAILY_CAP, until)
    return None
