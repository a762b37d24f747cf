"""The welcome card: sent before the answer to a new user's first message in their chat with the bot; its
selects change the time zone or the day window through the same service as /prefs, once per pick."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from bot.cards import toast
from bot.cards.results import ToastKind
from bot.cards.welcome import FIELD_DAY, FIELD_TZ, build_welcome_card
from bot.handlers.commands import prefs_change
from bot.handlers.deps import BotDeps
from bot.inbound import CallbackAnswer, ClickIn
from bot.parse import ParseError
from bot.parse.prefs import parse_prefs
from bot.texts import error_message, norm_locale, parse_error_text, t
from scheduler.services import prefs, presses
from scheduler.services.inbound import InboundMessage, NewUser
from scheduler.services.types import UserView

log = logging.getLogger(__name__)

EVENT_TYPE = "card.welcome_prefs"


def welcome_text(user: UserView, *, connect: bool = False) -> str:
    """The first message's welcome: what the bot does, and the defaults it assumed (how to change them);
    with `connect` (the operator enabled /connect) how to connect a calendar."""
    text = t(
        "welcome",
        user.locale,
        tz=user.timezone,
        day=f"{user.day_start}–{user.day_end}",
        cap=user.daily_card_cap,
    )
    return text + "\n" + t("welcome.connect", user.locale) if connect else text


def welcome_card(user: UserView, *, connect: bool = False) -> dict[str, Any]:
    return build_welcome_card(
        welcome_text(user, connect=connect),
        user.timezone,
        f"{user.day_start}-{user.day_end}",
        norm_locale(user.locale),
    )


def _answer(
    kind: ToastKind | str, locale: str, message: str, card: dict[str, Any] | None = None
) -> CallbackAnswer:
    out: dict[str, Any] = {"toast": toast(kind, locale, message=message)}
    if card is not None:
        out["card"] = {"type": "raw", "data": card}
    return out


async def change_setting(deps: BotDeps, click: ClickIn, field: str) -> CallbackAnswer:
    """A pick in one of the welcome card's selects; never raises (a database outage is a toast)."""
    default = norm_locale(deps.config.locale)
    try:
        locale = norm_locale(
            await presses.operator_locale(deps.store, click.operator_open_id, deps.config.locale)
        )
        return await _change(deps, click, field, locale)
    except Exception:
        log.exception("welcome setting %s failed", field)
        return _answer("internal", default, error_message("internal", default))


async def _change(deps: BotDeps, click: ClickIn, field: str, locale: str) -> CallbackAnswer:
    value = click.option.strip()
    if field not in (FIELD_TZ, FIELD_DAY) or not value or len(value) > 64:
        return _answer("internal", locale, t("click.unknown", locale))
    try:
        command = parse_prefs(f"{field} {value}")
    except ParseError as exc:
        return _answer("internal", locale, parse_error_text(exc, locale))
    config = deps.config
    message = InboundMessage(
        key="welcome:" + hashlib.sha256(click.dedupe_key.encode()).hexdigest()[:40],
        open_id=click.operator_open_id,
        now=deps.clock(),
        new_user=NewUser(
            timezone=config.timezone,
            locale=locale,
            day_start=config.day_start,
            day_end=config.day_end,
            daily_card_cap=config.daily_card_cap,
        ),
        admins=config.admins,
        event_type=EVENT_TYPE,
    )
    handled = await prefs.update_prefs(deps.store, message, prefs_change(command))
    said = t("welcome.changed", locale, setting=f"{field} {value}")
    if handled is None:  # the same pick delivered again: already done
        return _answer(ToastKind.APPLIED, locale, said)
    return _answer(
        ToastKind.APPLIED, locale, said, welcome_card(handled.user, connect=deps.calendar_login is not None)
    )
