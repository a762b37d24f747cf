"""The sender's settings: day window, quiet hours, language, time zone, daily card cap (/prefs)."""

from __future__ import annotations

from dataclasses import dataclass

from scheduler.services.inbound import Handled, InboundMessage, Turn, handle
from scheduler.services.types import UserView
from store import Store


@dataclass(frozen=True)
class PrefsChange:
    """What /prefs sets; None leaves a setting as it is. Times are "HH:MM" ("24:00" ends a day)."""

    day: tuple[str, str] | None = None
    quiet: tuple[str, str] | None = None
    quiet_off: bool = False
    lang: str | None = None
    timezone: str | None = None
    daily_cap: int | None = None
    buffer_minutes: int | None = None
    max_moves: int | None = None
    max_planned_minutes: int | None = None
    max_extension_minutes: int | None = None
    late_work: bool | None = None
    learn_overrun: bool | None = None

    @property
    def is_query(self) -> bool:
        return self == PrefsChange()


async def update_prefs(store: Store, message: InboundMessage, change: PrefsChange) -> Handled[bool] | None:
    """Apply `change` to the sender (an empty change only shows them); the result says whether anything
    was set, the user view shows the settings after it."""

    async def work(t: Turn) -> bool:
        if change.is_query:
            return False
        user = t.user
        if change.day is not None:
            user.day_start, user.day_end = change.day
        if change.quiet_off:
            user.quiet_start = user.quiet_end = None
        elif change.quiet is not None:
            user.quiet_start, user.quiet_end = change.quiet
        if change.lang is not None:
            user.locale = change.lang
        if change.timezone is not None:
            user.timezone = change.timezone
        if change.daily_cap is not None:
            user.daily_card_cap = change.daily_cap
        limits = {
            "buffer_minutes": change.buffer_minutes,
            "max_moves_per_day": change.max_moves,
            "max_planned_minutes": change.max_planned_minutes,
            "max_extension_minutes": change.max_extension_minutes,
            "late_work": change.late_work,
            "learn_overrun": change.learn_overrun,
        }
        planning = False
        for column, value in limits.items():
            if value is not None:
                setattr(user, column, value)
                planning = True
        if (
            planning
            or change.day is not None
            or change.quiet_off
            or change.quiet is not None
            or change.timezone
        ):
            # the window the candidates were planned in changed: previews planned before are stale
            await t.uow.users.bump_schedule(user.id)
        user.updated_at = t.now
        return True

    return await handle(store, message, work)


__all__ = ["PrefsChange", "UserView", "update_prefs"]
