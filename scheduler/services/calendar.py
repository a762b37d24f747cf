"""Each user's Feishu busy time: the port that reads it, the copy kept in the database, and when to re-read.

The pipeline plans on a copy younger than `max_age` (5 minutes by default) and re-reads an older one first;
Apply needs one at most a minute old and re-reads it otherwise, refusing with calendar_unavailable when Feishu
cannot be reached then. A read replaces the user's whole copy over the read window; a failed read keeps the
older copy (and says when it failed). Reads run outside any transaction, `concurrency` at a time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Protocol

from scheduler.planning import model as pm
from scheduler.planning.catalog import UNTITLED_BUSY_TITLE
from scheduler.services.errors import ErrorCode, ServiceError
from scheduler.services.outcomes import retrying
from store import Store
from store.models import BusyTime
from store.repositories.calendar import ReadState

log = logging.getLogger(__name__)

DEFAULT_MAX_AGE = timedelta(minutes=5)
APPLY_MAX_AGE = timedelta(minutes=1)
# The read window: from a little before now (a meeting under way) to two days ahead (the planning horizon
# of 24 hours, plus the day after it that a context reads).
READ_BEHIND = timedelta(hours=1)
READ_AHEAD = timedelta(hours=48)
# The copy must still cover this far ahead of `now` to be used without a re-read.
COVER_AHEAD = timedelta(hours=25)
READ_CONCURRENCY = 8
BUSY_PREFIX = "busy:"


@dataclass(frozen=True)
class BusySpan:
    """One busy interval as Feishu reports it (free/busy has no title)."""

    start: datetime
    end: datetime
    title: str | None = None
    event_id: str | None = None


class CalendarUnavailable(Exception):
    """Feishu could not tell the busy time: `code` is Feishu's (or network/timeout), `retryable` whether
    asking again later may work."""

    def __init__(self, code: str, message: str = "", *, retryable: bool = True) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.retryable = retryable


class BusyReader(Protocol):
    """Reads one user's busy intervals between two instants (bot.feishu.client.FeishuClient.busy)."""

    async def busy(self, open_id: str, start: datetime, end: datetime) -> Sequence[BusySpan]: ...


class OwnCalendarReader(Protocol):
    """Reads a connected user's events from their own primary calendar, titles and event ids included
    (scheduler.services.calendar_events.OwnCalendar); None when the user has no working connection or it
    cannot be read now (the caller falls back to free/busy)."""

    async def busy(
        self, user_id: str, start: datetime, end: datetime, now: datetime
    ) -> Sequence[BusySpan] | None: ...


def is_fresh(state: ReadState, now: datetime, max_age: timedelta) -> bool:
    """The copy was read at most `max_age` ago and covers the planning window from `now`."""
    return (
        state.read_at is not None
        and state.window_start is not None
        and state.window_end is not None
        and now - state.read_at <= max_age
        and state.window_start <= now
        and state.window_end >= now + COVER_AHEAD
    )


def as_fixed_events(rows: Sequence[BusyTime], locale: str) -> tuple[pm.FixedEvent, ...]:
    """Busy spans as the planner's one-off fixed events (untitled ones "Busy" in the user's language)."""
    name = UNTITLED_BUSY_TITLE["en" if locale == "en" else "zh"]
    return tuple(
        pm.FixedEvent(id=BUSY_PREFIX + r.id, title=r.title or name, start=r.start, end=r.end) for r in rows
    )


class BusyTimes:
    """The busy-time copies of every user, kept fresh from a BusyReader."""

    def __init__(
        self,
        store: Store,
        reader: BusyReader,
        *,
        max_age: timedelta = DEFAULT_MAX_AGE,
        concurrency: int = READ_CONCURRENCY,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._store = store
        self._reader = reader
        self.max_age = max_age
        self._gate = asyncio.Semaphore(concurrency)
        # Connected users' own calendars, read with their token instead of free/busy (set by the wiring).
        self.own: OwnCalendarReader | None = None

    async def refresh_for_triggers(self, trigger_ids: Sequence[str], now: datetime) -> None:
        """Before a pipeline batch: re-read the copies of these triggers' users that are older than max_age.
        Never raises: a user whose read fails is planned on the copy they have (the card says how old)."""
        try:
            async with self._store.uow(readonly=True) as uow:
                states = await uow.calendar.states_of_triggers(trigger_ids)
            stale = [s for s in states if not is_fresh(s, now, self.max_age)]
            if stale:
                await self.refresh_states(stale, now)
        except Exception:
            log.exception("refreshing the busy time of %d trigger(s) failed", len(trigger_ids))

    async def ensure_fresh(self, open_id: str, now: datetime, max_age: timedelta = APPLY_MAX_AGE) -> None:
        """Before an Apply: the user's copy is at most `max_age` old afterwards, or ServiceError
        calendar_unavailable (nothing written but the failure's note). No such user: nothing to do (the
        apply itself answers not_found)."""
        failed = await self.ensure_fresh_many([open_id], now, max_age)
        if open_id in failed:
            raise failed[open_id]

    async def ensure_fresh_many(
        self, open_ids: Sequence[str], now: datetime, max_age: timedelta = APPLY_MAX_AGE
    ) -> dict[str, ServiceError]:
        """`ensure_fresh` for the pressers of many Applies at once (one read of their copies, one refresh
        of the stale ones together): the error of each whose busy time could not be read, by open_id."""
        async with self._store.uow(readonly=True) as uow:
            states = await uow.calendar.states_by_open_id(open_ids)
        stale = [s for s in states.values() if not is_fresh(s, now, max_age)]
        if not stale:
            return {}
        failures = await self.refresh_states(stale, now)
        return {
            s.open_id: ServiceError(ErrorCode.CALENDAR_UNAVAILABLE, failures[s.user_id], retryable=True)
            for s in stale
            if s.user_id in failures
        }

    async def refresh_states(self, states: Sequence[ReadState], now: datetime) -> dict[str, str]:
        """Read these users' busy time and replace their copies; the users whose read failed, with why."""
        lo, hi = now - READ_BEHIND, now + READ_AHEAD

        from_own: set[str] = set()

        async def read(state: ReadState) -> tuple[str, Sequence[BusySpan] | str]:
            try:
                async with self._gate:
                    if self.own is not None:
                        own = await self.own.busy(state.user_id, lo, hi, now)
                        if own is not None:
                            from_own.add(state.user_id)
                            return state.user_id, own
                    return state.user_id, await self._reader.busy(state.open_id, lo, hi)
            except CalendarUnavailable as exc:
                log.warning("busy time of %s could not be read: %s", state.user_id, exc)
                return state.user_id, str(exc)
            except Exception as exc:
                log.exception("busy time of %s could not be read", state.user_id)
                return state.user_id, f"{type(exc).__name__}: {exc}"

        results = await asyncio.gather(*(read(s) for s in states))
        reads = {
            u: [_row(s, lo, hi) for s in r if min(s.end, hi) > max(s.start, lo)]
            for u, r in results
            if not isinstance(r, str)
        }
        failures = {u: r for u, r in results if isinstance(r, str)}
        await retrying(partial(self._write, reads, failures, now, lo, hi, from_own), what="writing busy time")
        return failures

    async def _write(  # noqa: PLR0917 - one read's results
        self,
        reads: dict[str, list[dict[str, object]]],
        failures: dict[str, str],
        now: datetime,
        lo: datetime,
        hi: datetime,
        own: set[str],
    ) -> None:
        """The copies read replace the old ones and the failures are noted, in one transaction."""
        async with self._store.uow() as uow:
            await uow.calendar.replace(reads, now, lo, hi, own)
            await uow.calendar.record_failures(failures, now)
            await uow.commit()


def _row(span: BusySpan, lo: datetime, hi: datetime) -> dict[str, object]:
    """A span clipped to the read window (an all-day or week-long event keeps only what the window sees)."""
    return {
        "start": max(span.start, lo),
        "end": min(span.end, hi),
        "title": span.title[:255] if span.title else None,
        "event_id": span.event_id,
    }
