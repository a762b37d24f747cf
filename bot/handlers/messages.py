"""Chat messages: who may talk to the bot, parsing, routing to a handler (one service call), the replies."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from bot.cards.capture import build_capture_card
from bot.handlers.admin import admin_router
from bot.handlers.commands import acknowledge, commands_router, short_help
from bot.handlers.context import MessageContext
from bot.handlers.deps import BotConfig, BotDeps
from bot.handlers.replies import (
    ACK_EMOJI,
    Part,
    queue_answers,
    react,
    send_card,
    send_queued,
    send_reply,
)
from bot.handlers.tasklines import local_time
from bot.handlers.welcome import welcome_card, welcome_text
from bot.inbound import MessageIn
from bot.parse import ParseError, normalize_text, parse_message
from bot.parse.capture import TaskDraft, read_task
from bot.parse.language import message_locale
from bot.router import Router
from bot.texts import error_message, parse_error_text, t
from scheduler.services import capture, inbound
from scheduler.services.capture import TaskReader
from scheduler.services.inbound import InboundMessage, NewUser
from scheduler.services.types import UserView

log = logging.getLogger(__name__)

EVENT_TYPE = inbound.MESSAGE_EVENT

router: Router[MessageContext, None] = Router("messages")
router.include(admin_router)
router.include(commands_router)


def addressed_to_bot(message: MessageIn, config: BotConfig) -> bool:
    """p2p always; in a group only when the bot is mentioned (by its open_id when configured)."""
    if message.chat_type == "p2p":
        return True
    if message.chat_type != "group" or not message.mentions:
        return False
    return not config.bot_open_id or message.mentions_open_id(config.bot_open_id)


def _ignored_reason(message: MessageIn, config: BotConfig) -> str | None:
    if message.sender_type != "user":
        return "sender_not_user"
    if not message.sender_open_id:
        return "no_sender"
    if not addressed_to_bot(message, config):
        return "not_addressed"
    return None


def inbound_message(message: MessageIn, config: BotConfig, key: str, now: datetime) -> InboundMessage:
    """The message as the services take it. A first message creates its sender with the configured
    defaults, in the language that message is written in when that is clear (else the default)."""
    new_user = NewUser(
        timezone=config.timezone,
        locale=message_locale(message.text, config.locale),
        day_start=config.day_start,
        day_end=config.day_end,
        daily_card_cap=config.daily_card_cap,
    )
    return InboundMessage(key, message.sender_open_id, now, new_user, config.admins, EVENT_TYPE)


def _parse(ctx: MessageContext, raw: str) -> None:
    # Admin arguments keep their `@_user_N` placeholders: they name the target user (see _user in admin).
    admin = normalize_text(raw, mentions_stripped=False).casefold().startswith("/admin")
    try:
        ctx.command = parse_message(raw, mentions_stripped=not admin)
    except ParseError as exc:
        ctx.error = exc


async def handle_message(deps: BotDeps, message: MessageIn) -> None:
    """Handle the message through one service, which records it once (a redelivery does nothing) in the
    transaction of its change; then send the replies and start the slow work in the background."""
    now = deps.clock()
    key = message.message_id or f"event:{message.event_id}"
    reason = _ignored_reason(message, deps.config)
    if reason is not None:
        await inbound.record_ignored(deps.store, key, EVENT_TYPE, now, reason)
        return
    unstorable = inbound.unstorable_ids(message.sender_open_id, message.message_id)
    if unstorable is not None:
        log.warning("message %s refused: %s", key[:80], unstorable)
        await inbound.record_ignored(deps.store, key, EVENT_TYPE, now, unstorable, failed=True)
        return
    raw = message.text
    ctx = MessageContext(
        deps, message, inbound_message(message, deps.config, key, now), now, normalize_text(raw or "")
    )
    try:
        if raw is None:
            await _short_help(ctx)
        elif message.from_menu and not raw:
            await _menu_item(ctx, message.menu_key)
        else:
            _parse(ctx, raw)
            await router.dispatch(ctx, _fallback)
    except Exception as exc:
        if inbound.is_database_error(exc):
            raise  # the database is unwell: no 200, so Feishu delivers the message again later
        # A bug must not make Feishu redeliver the message four times: record it as failed and say so.
        log.exception("message %s failed", message.message_id, extra={"message_id": message.message_id})
        ctx.replies.clear()
        ctx.later.clear()
        ctx.cards.clear()
        if not ctx.seen(await inbound.record_failed(deps.store, ctx.inbound)):
            return  # pragma: no cover - a concurrent delivery recorded it meanwhile
        ctx.reply(error_message("internal", ctx.locale))
    welcome: tuple[dict[str, Any], str] | None = None
    if ctx.first and ctx.user is not None and message.chat_type == "p2p":
        # (in a group the welcome would speak to everyone: it waits for the user's own chat with the bot)
        connect = deps.calendar_login is not None  # the operator turned /connect on
        welcome = (welcome_card(ctx.user, connect=connect), welcome_text(ctx.user, connect=connect))
    if ctx.react and message.message_id and not message.from_menu:  # first: it says "got it" at once
        deps.background.spawn(react(deps, message, ctx.react), f"react:{message.message_id}")
    if welcome is not None or ctx.replies or ctx.cards:
        # Stored before the answer to Feishu, so a crash after it loses no reply; sent in the background.
        parts = _answer_parts(welcome, list(ctx.replies), list(ctx.cards), ctx.replies_instead)
        queued = await queue_answers(deps, message, parts)
        later = list(ctx.later)

        async def answer_then_later() -> None:
            # Work that answers later starts once these answers are out, so the user reads them in order.
            await send_queued(deps, queued)
            for name, work in later:
                deps.background.spawn(work(), f"{name}:{message.message_id}")

        deps.background.spawn(answer_then_later(), f"reply:{message.message_id}")
        return
    for name, work in ctx.later:
        deps.background.spawn(work(), f"{name}:{message.message_id}")


def _answer_parts(
    welcome: tuple[dict[str, Any], str] | None,
    replies: list[str],
    cards: list[dict[str, Any]],
    cards_text: list[str],
) -> list[Part]:
    """The welcome (a card; its text when the card cannot be sent), then the replies, then the cards (each
    with its text for when Feishu refuses it), numbered for their Feishu uuids."""
    parts: list[Part] = []
    if welcome is not None:
        parts.append((100 + WELCOME_CARD, welcome[1], welcome[0]))
    parts.extend((i, text, None) for i, text in enumerate(replies))
    parts.extend(
        (100 + i, cards_text[i] if i < len(cards_text) else "", card) for i, card in enumerate(cards)
    )
    return parts


WELCOME_CARD = 9  # the welcome card's number (its uuid stays apart from the answers')


async def _menu_item(ctx: MessageContext, key: str) -> None:
    """A menu item that is not a command: Add says how to add a task; an item the bot does not know (a key
    the operator named otherwise) gets the help."""
    if await acknowledge(ctx):
        ctx.reply(t("menu.add" if key == "add" else "help", ctx.locale))


async def _short_help(ctx: MessageContext) -> None:
    if await acknowledge(ctx):
        ctx.reply(short_help(ctx.locale))


async def _fallback(ctx: MessageContext) -> None:
    handled = await inbound.acknowledge(ctx.deps.store, ctx.inbound)
    if not ctx.seen(handled):
        return
    if ctx.error is not None:
        ctx.reply(parse_error_text(ctx.error, ctx.locale))
        return
    assert handled is not None
    user = handled.user
    reader = ctx.deps.task_reader
    if reader is not None and ctx.text:
        # with a model the words are read in the background (it may take seconds); the parser is its fallback
        deps, message, text, now, key, locale = (
            ctx.deps,
            ctx.message,
            ctx.text,
            ctx.now,
            ctx.inbound.key,
            ctx.locale,
        )

        async def read_with_model() -> None:
            draft = await _model_draft(reader, text, now, user)
            await _send_answer(deps, message, _answer_for(draft, user, now, key, locale, message.chat_type))

        ctx.after_commit("capture", read_with_model)
        return
    answer = _answer_for(
        _parsed(ctx.text, ctx.now, user), user, ctx.now, ctx.inbound.key, ctx.locale, ctx.message.chat_type
    )
    ctx.react = answer.react
    if answer.card is not None:
        ctx.cards.append(answer.card)
        ctx.replies_instead.append(answer.text)
    else:
        ctx.reply(answer.text)


def _parsed(text: str, now: datetime, user: UserView) -> TaskDraft | None:
    """The deterministic reading of the words (None: no task in them)."""
    try:
        day_end = time.fromisoformat("00:00" if user.day_end == "24:00" else user.day_end)
        return read_task(text, now, user.timezone, day_end)
    except (ValueError, LookupError):  # an unknown stored time zone or day end: no reading, just help
        return None


async def _model_draft(reader: TaskReader, text: str, now: datetime, user: UserView) -> TaskDraft | None:
    """The model's reading, every field checked; the parser's when the model gives no usable answer."""
    now_local, weekday = capture.now_words(now, user.timezone)
    answer = await reader.read_task(text, now_local, weekday, user.timezone)
    found = capture.checked(answer, now, user.timezone)
    if found is None:
        log.info("model reading unusable; the parser reads the words")
        return _parsed(text, now, user)
    if found == capture.NOT_A_TASK:
        return None
    assert isinstance(found, capture.WordsDraft)
    return TaskDraft(found.title, found.estimate_minutes, found.deadline, found.important)


@dataclass(frozen=True)
class _Answer:
    text: str
    card: dict[str, Any] | None = None  # the capture form (then `text` is sent only if the card cannot be)
    react: str | None = None


def _answer_for(  # noqa: PLR0917 - the message's parts
    draft: TaskDraft | None, user: UserView, now: datetime, key: str, locale: str, chat_type: str
) -> _Answer:
    if draft is None:
        return _Answer(short_help(locale))
    text = _draft_reply(draft, user.timezone, now, locale)
    if chat_type == "p2p" and _complete(draft, now):
        # the form card, prefilled; Submit adds the task once (the /add line stays an alternative)
        card = build_capture_card(
            form_id(key),
            draft.title,
            draft.estimate_minutes,
            draft.deadline,
            draft.important,
            user.timezone,
            locale,
            alternative=text,
        )
        return _Answer(text, card, ACK_EMOJI)
    return _Answer(text, None, ACK_EMOJI)


MODEL_REPLY = 20  # the number (uuid) of an answer sent after the model read the words


async def _send_answer(deps: BotDeps, message: MessageIn, answer: _Answer) -> None:
    if answer.react and not message.from_menu:
        await react(deps, message, answer.react)
    if answer.card is not None:
        await send_card(deps, message, answer.card, MODEL_REPLY, answer.text)
    else:
        await send_reply(deps, message, answer.text, MODEL_REPLY)


def _complete(draft: TaskDraft, now: datetime) -> bool:
    """A draft the form can be prefilled with: an estimate in range and no deadline in the past."""
    if draft.deadline is not None and draft.deadline <= now:
        return False
    return draft.estimate_minutes is not None and 5 <= draft.estimate_minutes <= 480


def form_id(message_key: str) -> str:
    """The capture form's id: one per source message (a short hash: any message id fits a button value)."""
    return "f" + hashlib.sha256(message_key.encode()).hexdigest()[:24]


def _draft_reply(draft: TaskDraft, tz: str, now: datetime, locale: str) -> str:
    """What the bot read, and the exact /add that creates it (nothing is created from plain words alone);
    a missing estimate or a past deadline is asked about by name."""
    if draft.deadline is not None and draft.deadline <= now:
        due = local_time(draft.deadline, tz, now, with_date=True)
        return t("capture.past", locale, title=draft.title, due=due)
    if draft.estimate_minutes is None:
        return t("capture.how_long", locale, title=draft.title)
    if not 5 <= draft.estimate_minutes <= 480:
        return t("capture.estimate_range", locale, title=draft.title, minutes=draft.estimate_minutes)
    command = f"/add {draft.title} {draft.estimate_minutes}"
    if draft.deadline is not None:
        command += f" by {draft.deadline.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}"
    if draft.important:
        command += " !"
    return t("capture.read", locale, command=command)
