"""The welcome card a new user's first message gets: what the bot does and the defaults it assumed, with
two selects that change the time zone and the day window at once (each a callback with the picked option)."""

from __future__ import annotations

from typing import Any

from bot.cards import markup as m
from bot.cards.payload import Kind, pack
from bot.texts import t

WELCOME_TEMPLATE = "turquoise"
TIMEZONES = (
    "Asia/Shanghai",
    "Asia/Hong_Kong",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "UTC",
)
DAY_WINDOWS = ("07:00-21:00", "07:30-22:00", "08:00-22:30", "09:00-23:00", "10:00-24:00")
FIELD_TZ, FIELD_DAY = "tz", "day"


def _select(field: str, current: str, choices: tuple[str, ...], placeholder: str) -> m.Element:
    values = choices if current in choices else (current, *choices)
    return {
        "tag": "select_static",
        "element_id": f"welcome_{field}",
        "placeholder": m.plain(placeholder),
        "initial_option": current,
        "options": [{"text": m.plain(v), "value": v} for v in values],
        "behaviors": [{"type": "callback", "value": pack(Kind.PREFS, field)}],
    }


def build_welcome_card(text: str, timezone: str, day: str, locale: str) -> dict[str, Any]:
    """`text` is the welcome; `timezone` and `day` ("08:00-22:30") are the user's settings now."""
    rows = [
        m.columns([m.markdown(t("welcome.tz", locale))], [_select(FIELD_TZ, timezone, TIMEZONES, timezone)]),
        m.columns([m.markdown(t("welcome.day", locale))], [_select(FIELD_DAY, day, DAY_WINDOWS, day)]),
    ]
    elements = [m.markdown(text), m.hr(), *rows]  # our own words: no user text in it
    card = m.card(t("welcome.title", locale), WELCOME_TEMPLATE, elements, summary=t("welcome.title", locale))
    return dict(m.check_card_size(card))
