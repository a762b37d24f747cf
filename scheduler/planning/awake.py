"""When a proactive card may reach the user: inside their day window, outside quiet hours (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from scheduler.planning.clock import from_min, local_date, span_on, to_min, zone
from scheduler.planning.model import UserPrefs
from scheduler.planning.window import Span, merge, subtract

# How far ahead to look for the window to open (a week covers any daily pattern and a DST change).
_DAYS_AHEAD = 8


def awake_spans(prefs: UserPrefs, lo: int, days: int = _DAYS_AHEAD) -> list[Span]:
    """The user's day windows less their quiet hours, in epoch minutes, from the local day before `lo`."""
    tz = zone(prefs.timezone)
    first = local_date(lo, tz) - timedelta(days=1)
    dates = [first + timedelta(days=i) for i in range(days + 1)]
    spans = merge(span_on(d, prefs.day_start, prefs.day_end, tz) for d in dates)
    qs, qe = prefs.quiet_start, prefs.quiet_end
    if qs is None or qe is None or qs == qe:
        return spans
    return subtract(spans, merge(span_on(d, qs, qe, tz) for d in dates))


def card_time(at: datetime, prefs: UserPrefs) -> datetime:
    """`at` when a proactive card may go out then (inside the day window, outside quiet hours), else the
    next moment the window opens. A user whose quiet hours cover the whole day window is not held back
    (better a card at an odd hour than none)."""
    m = to_min(at)
    for s, e in awake_spans(prefs, m):
        if s <= m < e:
            return at
        if s > m:
            return from_min(s)
    return at
