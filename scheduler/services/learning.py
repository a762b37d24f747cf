"""What a user's answers teach the planner, bounded and visible: how much longer their work runs than planned
(from "unfinished" reports) and the hours they accept new time in (from applied options). Both are kept on the
user row, learned always and used only while learning is on (/prefs learn on|off)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from scheduler.planning import model as pm
from store.models import User

OVERRUN_MIN, OVERRUN_MAX = 1.0, 2.0
OVERRUN_WEIGHT = 0.25  # each report moves the factor a quarter of the way to what it showed
HOUR_DECAY = 0.9  # each applied option weighs older ones down a little
PREFERRED_HOURS = 3  # at most this many learned hours count as preferred
MIN_ACCEPTED = 2.0  # an hour counts once about this many applied options started in it


def learn_overrun(user: User, planned: timedelta, remaining_minutes: int) -> None:
    """A report that `remaining_minutes` were left after a block of `planned` length: the work took
    (planned + remaining) / planned of the time planned. The user's factor moves a bounded step toward it
    (kept within 1.0-2.0, two decimals)."""
    minutes = planned.total_seconds() / 60
    if minutes <= 0 or remaining_minutes <= 0:
        return
    observed = min(OVERRUN_MAX, (minutes + remaining_minutes) / minutes)
    factor = (1 - OVERRUN_WEIGHT) * user.overrun_factor + OVERRUN_WEIGHT * observed
    user.overrun_factor = round(min(OVERRUN_MAX, max(OVERRUN_MIN, factor)), 2)


def learn_hours(user: User, changes: Iterable[pm.Change]) -> None:
    """An applied option: the local hours its new or moved time starts in count as accepted."""
    starts = [
        c.start for c in changes if c.kind in (pm.ChangeKind.ADD_BLOCK, pm.ChangeKind.MOVE_BLOCK) and c.start
    ]
    if not starts:
        return
    tz = ZoneInfo(user.timezone)
    counts = {h: v * HOUR_DECAY for h, v in _counts(user.accepted_hours).items()}
    for start in starts:
        hour = str(start.astimezone(tz).hour)
        counts[hour] = counts.get(hour, 0.0) + 1.0
    user.accepted_hours = {h: round(v, 3) for h, v in sorted(counts.items()) if v >= 0.05}


def preferred_hours(accepted: object) -> tuple[tuple[time, time], ...]:
    """The learned preferred periods: the most accepted hours (at most 3, each accepted about twice or more),
    one hour each, in order of the day."""
    ranked = sorted(((v, int(h)) for h, v in _counts(accepted).items()), reverse=True)
    hours = sorted(h for v, h in ranked[:PREFERRED_HOURS] if v >= MIN_ACCEPTED)
    return tuple((time(h), time(h + 1) if h < 23 else time(23, 59)) for h in hours)


def _counts(accepted: object) -> dict[str, float]:
    if not isinstance(accepted, Mapping):
        return {}
    out = {}
    for h, v in accepted.items():
        if isinstance(h, str) and h.isdecimal() and 0 <= int(h) <= 23 and isinstance(v, int | float):
            out[h] = float(v)
    return out
